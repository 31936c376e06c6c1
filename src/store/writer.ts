/**
 * RecordWriter: records leave the hot path as a synchronous `write()` into a
 * bounded in-memory buffer; a background loop commits them in batches of
 * idempotent upserts. While the database is unreachable the buffer holds; once
 * the outage outlasts `spillAfterMs` (or the buffer reaches `maxBuffered`) the
 * whole buffer is appended to the fsync'd local journal. The journal is always
 * older than the buffer, so it is replayed first once the database answers.
 * Every write is an upsert keyed by id, so a batch that committed but whose
 * acknowledgement was lost can be sent again without duplicating anything.
 */
import type { Db } from "./db.ts";
import { isPermanent, StoreError, storeError } from "./errors.ts";
import { Journal, type WriteEntry } from "./journal.ts";
import type { NewInvocation, NewSpan, NewUsage } from "./records.ts";
import { upsertRecords } from "./upsert.ts";

export type { WriteEntry };

export interface RecordWriterOptions {
  db: Db;
  /** Journal files go to `<dataDir>/journal`. */
  dataDir: string;
  /**
   * Commit what is buffered at least this often (default 200 ms). Each batch
   * has a fixed cost on both sides (a statement, a commit, a round trip, and
   * the invocations still running split across two batches); at 50 ms the
   * recording benchmark spent 25–60 µs more per invocation in the database.
   */
  flushIntervalMs?: number;
  /** Records per batch, and the buffer size that triggers an early flush (default 500). */
  batchSize?: number;
  /** Buffer size that forces a spill to the journal (default 10,000). */
  maxBuffered?: number;
  /** How long an outage may last before the buffer is spilled (default 1,000 ms). */
  spillAfterMs?: number;
  /** Longest wait between retries while the database is down (default 2,000 ms). */
  maxRetryMs?: number;
  /** Told about every failure; the writer itself never throws. */
  onError?: (err: StoreError) => void;
}

export interface WriterCounters {
  /** Records in memory now. */
  buffered: number;
  /** Records in journal files now, waiting to be replayed. */
  journaled: number;
  /** Records ever appended to the journal. */
  spilled: number;
  /** Records committed (including replays). */
  written: number;
  /** Failed attempts to commit or spill. */
  failures: number;
  /** Records the database refused for good (bad data), kept in journal/rejected. */
  rejected: number;
  /** Records lost because neither the database nor the disk would take them. */
  dropped: number;
}

/** Past this many times maxBuffered, with the disk failing too, new records are dropped and counted. */
const HARD_LIMIT_FACTOR = 4;

export class RecordWriter {
  private readonly db: Db;
  private readonly journal: Journal;
  private readonly batchSize: number;
  private readonly maxBuffered: number;
  private readonly spillAfterMs: number;
  private readonly maxRetryMs: number;
  private readonly onError: (err: StoreError) => void;
  private readonly timer: ReturnType<typeof setInterval>;

  private buffer: WriteEntry[] = [];
  private draining: Promise<void> | null = null;
  /** Unknown until the first drain looks at the directory (files left by an earlier process). */
  private journaledKnown = false;
  private downSince: number | null = null;
  private retryAt = 0;
  private retryDelay = 0;
  private closed = false;
  private readonly stats = { journaled: 0, spilled: 0, written: 0, failures: 0, rejected: 0, dropped: 0 };

  constructor(options: RecordWriterOptions) {
    this.db = options.db;
    this.journal = new Journal(options.dataDir);
    this.batchSize = options.batchSize ?? 500;
    this.maxBuffered = options.maxBuffered ?? 10_000;
    this.spillAfterMs = options.spillAfterMs ?? 1_000;
    this.maxRetryMs = options.maxRetryMs ?? 2_000;
    this.onError = options.onError ?? (() => {});
    this.timer = setInterval(() => this.tick(), options.flushIntervalMs ?? 200);
    // A pending flush must not keep the process alive; close() drains explicitly.
    this.timer.unref?.();
  }

  get counters(): WriterCounters {
    return { buffered: this.buffer.length, ...this.stats };
  }

  /** Never throws and never waits: the hot path only pays for an array push. */
  write(entry: WriteEntry): void {
    if (this.closed) {
      this.spillAfterClose(entry);
      return;
    }
    if (this.buffer.length >= this.maxBuffered * HARD_LIMIT_FACTOR) {
      this.stats.dropped += 1;
      return;
    }
    this.buffer.push(entry);
    if (this.buffer.length >= this.batchSize && Date.now() >= this.retryAt) this.kick();
  }

  invocation(row: NewInvocation): void {
    this.write({ kind: "invocation", row });
  }

  /** The end of an invocation: its record first, so usage (foreign key) lands in the same or a later batch. */
  finish(record: NewInvocation, usage?: NewUsage | null, spans: readonly NewSpan[] = []): void {
    this.write({ kind: "invocation", row: record });
    if (usage) this.write({ kind: "usage", row: usage });
    for (const span of spans) this.write({ kind: "span", row: span });
  }

  /**
   * Commits everything written so far, journal first. If the database is
   * unreachable, moves the buffer into the journal instead so it is durable,
   * and returns; the records land on a later flush or in the next process.
   */
  async flush(): Promise<WriterCounters> {
    // A timer-started drain may begin while we wait; only a forced drain of our own spills on an outage.
    while (this.draining) await this.draining;
    await this.drain(true);
    return this.counters;
  }

  /** Drains like flush, then stops the loop. Later writes go straight to the journal. */
  async close(): Promise<WriterCounters> {
    clearInterval(this.timer);
    // Closed first: anything written while the last flush runs goes to the journal, not a dead buffer.
    this.closed = true;
    return this.flush();
  }

  private tick(): void {
    if (this.draining || Date.now() < this.retryAt) return;
    if (this.buffer.length > 0 || this.stats.journaled > 0 || !this.journaledKnown) this.kick();
  }

  private kick(): void {
    if (!this.draining) void this.drain(false);
  }

  /** One drain at a time, so the journal and the buffer are committed in the order they were written. */
  private drain(force: boolean): Promise<void> {
    if (this.draining) return this.draining;
    this.draining = this.drainOnce(force)
      .catch((err: unknown) => this.report(storeError("record writer", err)))
      .finally(() => {
        this.draining = null;
      });
    return this.draining;
  }

  private async drainOnce(force: boolean): Promise<void> {
    if (!this.journaledKnown) await this.countJournal();
    try {
      await this.replayJournal();
      await this.writeBuffer(force);
      this.recovered();
    } catch (err) {
      await this.outage(err, force);
    }
  }

  private async countJournal(): Promise<void> {
    let count = 0;
    for (const file of await this.journal.files()) count += (await this.journal.read(file)).length;
    this.stats.journaled = count;
    this.journaledKnown = true;
  }

  private async replayJournal(): Promise<void> {
    if (this.stats.journaled === 0) return;
    for (const file of await this.journal.files()) {
      const entries = await this.journal.read(file);
      for (let i = 0; i < entries.length; i += this.batchSize) {
        await this.commit(entries.slice(i, i + this.batchSize));
      }
      // Deleted only after every line committed; a crash before this replays the file again, harmlessly.
      await this.journal.remove(file);
      this.stats.journaled = Math.max(0, this.stats.journaled - entries.length);
    }
  }

  /**
   * Sends full batches back to back, but leaves a partial one written during
   * the last round trip to the next tick (unless forced): otherwise, under a
   * steady trickle, every round trip would send the one or two invocations
   * that arrived meanwhile, and Postgres pays its per-statement cost (and a
   * running row updated apart from its final one) many times over.
   */
  private async writeBuffer(force: boolean): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.batchSize);
      await this.commit(batch);
      // write() only appends, so the batch is still the front of the buffer.
      this.buffer.splice(0, batch.length);
      // The database answers but slower than records arrive: bound memory with the journal.
      if (this.buffer.length >= this.maxBuffered) await this.spill();
      if (!force && this.buffer.length < this.batchSize) return;
    }
  }

  /**
   * Commits a batch. When the database refuses the data
   * itself, halves the batch until the offending records are isolated and
   * set aside, so one bad record cannot block the rest forever.
   */
  private async commit(batch: readonly WriteEntry[]): Promise<void> {
    try {
      await writeBatch(this.db, batch);
      this.stats.written += batch.length;
    } catch (err) {
      if (!isPermanent(err)) throw err;
      if (batch.length === 1) {
        await this.journal.reject(batch);
        this.stats.rejected += 1;
        this.report(storeError("record rejected by the database, kept in journal/rejected", err));
        return;
      }
      const half = Math.ceil(batch.length / 2);
      await this.commit(batch.slice(0, half));
      await this.commit(batch.slice(half));
    }
  }

  private recovered(): void {
    this.downSince = null;
    this.retryAt = 0;
    this.retryDelay = 0;
  }

  private async outage(err: unknown, force: boolean): Promise<void> {
    this.stats.failures += 1;
    this.report(storeError("database unreachable, records held", err));
    const now = Date.now();
    this.downSince ??= now;
    this.retryDelay = Math.min(this.maxRetryMs, Math.max(50, this.retryDelay * 2));
    this.retryAt = now + this.retryDelay;
    const overdue = now - this.downSince >= this.spillAfterMs;
    if (force || overdue || this.buffer.length >= this.maxBuffered) await this.spill();
  }

  /** Moves the whole buffer to the journal, keeping the journal older than anything left in memory. */
  private async spill(): Promise<void> {
    if (this.buffer.length === 0) return;
    const entries = this.buffer;
    this.buffer = [];
    try {
      await this.journal.spill(entries);
      this.stats.spilled += entries.length;
      this.stats.journaled += entries.length;
    } catch (err) {
      // The disk failed too: put the records back in front of anything written meanwhile.
      this.buffer = entries.concat(this.buffer);
      this.stats.failures += 1;
      this.report(storeError("cannot spill records to the journal", err));
    }
  }

  private spillAfterClose(entry: WriteEntry): void {
    this.stats.journaled += 1;
    this.journal.spill([entry]).then(
      () => {
        this.stats.spilled += 1;
      },
      (err: unknown) => {
        this.stats.journaled -= 1;
        this.stats.dropped += 1;
        this.report(storeError("cannot journal a record written after close", err));
      },
    );
  }

  private report(err: StoreError): void {
    try {
      this.onError(err);
    } catch {
      // A failing logger must not turn into a failing write path.
    }
  }
}

/**
 * One statement per batch (see upsertRecords): parents before children in
 * its CTEs, atomic without a transaction block, and idempotent as a whole,
 * so a batch cut short by an outage is simply sent again whole. It
 * also keeps the hot write path off postgres.js transactions, whose ROLLBACK
 * on a connection the server just killed can crash the process (see
 * porsager/postgres#1066, #1208: nextWrite on a null socket).
 */
export async function writeBatch(db: Db, batch: readonly WriteEntry[]): Promise<void> {
  const rows: { invocations: NewInvocation[]; usage: NewUsage[]; spans: NewSpan[] } = {
    invocations: [],
    usage: [],
    spans: [],
  };
  for (const entry of batch) {
    if (entry.kind === "invocation") rows.invocations.push(entry.row);
    else if (entry.kind === "usage") rows.usage.push(entry.row);
    else rows.spans.push(entry.row);
  }
  await upsertRecords(db, rows);
}

export { StoreError };
