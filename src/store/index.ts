/** The records layer's public surface; other layers receive these values, they never import db/ directly. */
export { type Database, type Db, type OpenDatabaseOptions, openDatabase, type Queryable } from "./db.ts";
export { StoreError } from "./errors.ts";
export type { WriteEntry } from "./journal.ts";
export * from "./queue.ts";
export * from "./records.ts";
export { RecordWriter, type RecordWriterOptions, type WriterCounters } from "./writer.ts";
