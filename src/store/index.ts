/** The records layer's public surface; other layers receive these values, they never import db/ directly. */
export { type Database, type Db, type OpenDatabaseOptions, openDatabase, type Queryable } from "./db.ts";
export { DurableQueue, type DurableQueueOptions } from "./durable-queue.ts";
export { StoreError } from "./errors.ts";
export type { WriteEntry } from "./journal.ts";
export * from "./queue.ts";
export * from "./records.ts";
export {
  applyRetention,
  parseAge,
  type RetentionOptions,
  type RetentionResult,
  scheduleRetention,
} from "./retention.ts";
export { fromRow, StoreReader, StoreSink, type StoreSinkOptions, toRow } from "./sink.ts";
export { RecordWriter, type RecordWriterOptions, type WriterCounters } from "./writer.ts";
