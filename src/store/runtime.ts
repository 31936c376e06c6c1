/**
 * The records layer as a running server uses it: the database (migrated), the
 * lost-invocation sweep of a restart, the RecordWriter, the store sink and
 * reader for the invoke layer, the durable async queue, and retention. Built
 * once by the composition root and closed on shutdown (flushing the writer).
 */
import { errorMessage } from "../errors.ts";
import type { InvocationReader } from "../invoke/record.ts";
import { type Database, openDatabase } from "./db.ts";
import { DurableQueue } from "./durable-queue.ts";
import { markLost } from "./records.ts";
import { scheduleRetention } from "./retention.ts";
import { StoreReader, StoreSink } from "./sink.ts";
import { RecordWriter } from "./writer.ts";

export interface RecordsOptions {
  /** Postgres URL; absent = PGlite in the data directory. */
  url?: string | undefined;
  dataDir: string;
  /** Stable across restarts of this server: markLost sweeps only this node's rows. */
  node: string;
  leaseMs: number;
  retentionMs: number;
  log: (line: string) => void;
}

export interface Records {
  readonly database: Database;
  readonly writer: RecordWriter;
  readonly sink: StoreSink;
  readonly queue: DurableQueue;
  /** Ids of the invocations this start-up recorded as lost. */
  readonly lost: string[];
  reader(memory: InvocationReader): InvocationReader;
  /** Stops retention, flushes the writer (journal on an outage) and closes the database. */
  close(): Promise<void>;
}

export async function openRecords(o: RecordsOptions): Promise<Records> {
  const startedAt = new Date();
  const database = await openDatabase({ url: o.url, dataDir: o.dataDir });
  const { db } = database;
  const report = throttledLog(o.log);
  // Sync calls of a previous run of this node can never finish now. A final
  // record still in the journal is replayed by the writer and wins over "lost".
  const lost = await markLost(db, { node: o.node, queuedBefore: startedAt });
  if (lost.length > 0)
    o.log(`bunker: recorded ${lost.length} unfinished invocations of a previous run as lost`);
  const writer = new RecordWriter({ db, dataDir: o.dataDir, onError: report });
  const finals: { take: (id: string) => ReturnType<StoreSink["takeFinal"]> } = { take: () => undefined };
  const queue = new DurableQueue({
    db,
    owner: o.node,
    leaseMs: o.leaseMs,
    takeFinal: (id) => finals.take(id),
    onError: report,
  });
  const sink = new StoreSink({ writer, node: o.node, queue });
  finals.take = (id) => sink.takeFinal(id);
  const retention = scheduleRetention(db, { maxAgeMs: o.retentionMs, onError: report });
  return {
    database,
    writer,
    sink,
    queue,
    lost,
    reader: (memory) => new StoreReader(db, memory, report),
    async close() {
      await retention.stop();
      const left = await writer.close();
      if (left.journaled > 0)
        o.log(`bunker: ${left.journaled} records kept in the journal for the next start`);
      await database.close();
    },
  };
}

/** One line per kind of failure per 10 s: an outage must not flood the log. */
function throttledLog(log: (line: string) => void): (err: unknown) => void {
  const last = new Map<string, number>();
  return (err) => {
    const text = errorMessage(err);
    const key = text.slice(0, 60);
    const now = Date.now();
    if ((last.get(key) ?? 0) + 10_000 > now) return;
    last.set(key, now);
    log(`bunker: records: ${text}`);
  };
}
