/**
 * The invoke layer's records, into the store. The sink only pushes rows into
 * the RecordWriter's buffer (never awaits the database), so the request path
 * pays for an array push. The reader answers /system/invocations from the
 * store, letting the in-memory log answer for invocations still running here.
 *
 * Async invocations run off the durable queue are the exception on the write
 * side: their row is created with the job (one transaction) and their end is
 * written in the transaction that completes the job under its lease, so a
 * worker that lost its lease cannot overwrite a newer attempt. For those the
 * sink holds the final record until the queue takes it.
 */

import type { InvocationState } from "../../db/schema.ts";
import type { Outcome } from "../driver/types.ts";
import type {
  InvocationQuery,
  InvocationReader,
  InvocationRecord,
  InvocationSink,
  InvocationStatus,
} from "../invoke/record.ts";
import type { Db } from "./db.ts";
import type { AttemptRecord } from "./queue.ts";
import {
  findInvocation,
  type Invocation,
  listInvocations,
  type NewInvocation,
  type NewUsage,
  usageRow,
} from "./records.ts";
import type { RecordWriter } from "./writer.ts";

const FINAL: ReadonlySet<InvocationStatus> = new Set([
  "succeeded",
  "failed",
  "timeout",
  "cancelled",
  "error",
]);

export interface StoreSinkOptions {
  writer: RecordWriter;
  /** This server's stable name (markLost only touches its own rows). */
  node: string;
  /** The durable queue, when async invocations run off the store. */
  queue?: { leased(id: string): boolean };
}

export class StoreSink implements InvocationSink {
  readonly #writer: RecordWriter;
  readonly #node: string;
  readonly #queue: { leased(id: string): boolean } | undefined;
  readonly #finals = new Map<string, AttemptRecord>();

  constructor(options: StoreSinkOptions) {
    this.#writer = options.writer;
    this.#node = options.node;
    this.#queue = options.queue;
  }

  onQueued(r: InvocationRecord): void {
    // A queued async row is written by the queue's enqueue transaction.
    if (r.mode === "async" && this.#queue) return;
    this.#writer.invocation(toRow(r, this.#node));
  }

  onStarted(r: InvocationRecord): void {
    if (r.mode === "async" && this.#leased(r.id)) return;
    this.#writer.invocation(toRow(r, this.#node));
  }

  onFinished(r: InvocationRecord, outcome?: Outcome | null): void {
    const record = toRow(r, this.#node);
    const usage = outcome ? usageRow(r.id, outcome.usage) : null;
    if (r.mode === "async" && this.#leased(r.id)) {
      this.#finals.set(r.id, { record, usage });
      return;
    }
    this.#writer.finish(record, usage);
  }

  /** The queue takes the final record of a job it holds, to write it under the lease. */
  takeFinal(id: string): AttemptRecord | undefined {
    const final = this.#finals.get(id);
    this.#finals.delete(id);
    return final;
  }

  #leased(id: string): boolean {
    return this.#queue?.leased(id) ?? false;
  }
}

/** The store's vocabulary for an invoke record. */
export function toRow(r: InvocationRecord, node: string): NewInvocation {
  const row: NewInvocation = {
    id: r.id,
    function: r.function,
    trigger: r.trigger ?? (r.mode === "async" ? "async" : "http"),
    state: stateOf(r.status),
    node,
    queuedAt: new Date(r.createdAt),
    attempt: Math.max(1, r.attempts),
    // Unknown (null) until the task started; then whether a ready pool slot ran it.
    warm: r.warm ?? null,
  };
  if (r.startedAt !== undefined) row.startedAt = new Date(r.startedAt);
  if (r.finishedAt !== undefined) row.finishedAt = new Date(r.finishedAt);
  if (r.exitCode !== undefined) row.exitCode = r.exitCode;
  if (r.signal !== undefined) row.signal = r.signal;
  if (r.status === "timeout") row.reason = "timeout";
  else if (r.reason !== undefined) row.reason = r.reason;
  if (r.error !== undefined) row.error = r.error;
  if (r.stderrTail !== undefined) row.stderrTail = r.stderrTail;
  if (r.idempotencyKey !== undefined) row.idempotencyKey = r.idempotencyKey;
  if (r.traceId !== undefined) row.traceId = r.traceId;
  return row;
}

function stateOf(status: InvocationStatus): InvocationState {
  switch (status) {
    case "queued":
    case "running":
    case "succeeded":
    case "failed":
    case "cancelled":
      return status;
    default:
      // timeout and error are failures; the reason column says which.
      return "failed";
  }
}

/** Back to the API's vocabulary. A lost invocation reads as an error whose message says it was lost. */
export function fromRow(row: Invocation): InvocationRecord {
  const r: InvocationRecord = {
    id: row.id,
    function: row.function,
    mode: row.trigger === "async" ? "async" : "sync",
    status: statusOf(row),
    createdAt: row.queuedAt.toISOString(),
    attempts: row.attempt,
  };
  if (row.startedAt) r.startedAt = row.startedAt.toISOString();
  if (row.finishedAt) r.finishedAt = row.finishedAt.toISOString();
  if (row.startedAt && row.finishedAt) r.durationMs = row.finishedAt.getTime() - row.startedAt.getTime();
  if (row.exitCode !== null) r.exitCode = row.exitCode;
  if (row.signal !== null) r.signal = row.signal;
  if (row.reason !== null && row.reason !== "lost") r.reason = row.reason;
  if (row.state === "lost")
    r.error = `lost: ${row.error ?? "the server stopped before the invocation finished"}`;
  else if (row.error !== null) r.error = row.error;
  if (row.stderrTail !== null) r.stderrTail = row.stderrTail;
  if (row.idempotencyKey !== null) r.idempotencyKey = row.idempotencyKey;
  if (row.traceId !== null) r.traceId = row.traceId;
  return r;
}

function statusOf(row: Invocation): InvocationStatus {
  if (row.state === "lost") return "error";
  if (row.state === "failed" && row.reason === "timeout") return "timeout";
  if (row.state === "failed" && row.reason === "setup_failed") return "error";
  return row.state;
}

function storeStateFilter(status: InvocationStatus | undefined): InvocationState | undefined {
  if (status === undefined) return undefined;
  if (status === "timeout" || status === "error") return status === "timeout" ? "failed" : undefined;
  return status;
}

/**
 * /system/invocations from the store. An invocation still running in this
 * process answers from memory (its row may still be in the writer's buffer);
 * everything else comes from the store, the source of truth. When the
 * database is down, the reader falls back to memory rather than failing.
 */
export class StoreReader implements InvocationReader {
  readonly #db: Db;
  readonly #memory: InvocationReader;
  readonly #onError: (err: unknown) => void;

  constructor(db: Db, memory: InvocationReader, onError: (err: unknown) => void = () => {}) {
    this.#db = db;
    this.#memory = memory;
    this.#onError = onError;
  }

  async get(id: string): Promise<InvocationRecord | undefined> {
    const mem = await this.#memory.get(id);
    let row: Invocation | null;
    try {
      row = await findInvocation(this.#db, id);
    } catch (err) {
      this.#onError(err);
      return mem;
    }
    return prefer(mem, row ? fromRow(row) : undefined);
  }

  async list(q: InvocationQuery): Promise<InvocationRecord[]> {
    const limit = Math.max(1, Math.min(q.limit ?? 50, 1000));
    const mem = await this.#memory.list({ ...q, limit });
    let stored: InvocationRecord[];
    try {
      const state = storeStateFilter(q.status);
      const rows = await listInvocations(this.#db, {
        limit,
        ...(q.function === undefined ? {} : { function: q.function }),
        ...(state === undefined ? {} : { state }),
      });
      stored = rows.map(fromRow).filter((r) => q.status === undefined || r.status === q.status);
    } catch (err) {
      this.#onError(err);
      return mem;
    }
    const byId = new Map<string, InvocationRecord>();
    for (const r of stored) byId.set(r.id, r);
    for (const r of mem) {
      const best = prefer(r, byId.get(r.id));
      if (best) byId.set(r.id, best);
    }
    return [...byId.values()]
      .sort((a, b) =>
        a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : b.id.localeCompare(a.id),
      )
      .slice(0, limit);
  }
}

/** Memory wins while it knows more (the run is live here); a final stored row wins otherwise. */
function prefer(mem: InvocationRecord | undefined, stored: InvocationRecord | undefined) {
  if (!mem) return stored;
  if (!stored) return mem;
  if (FINAL.has(mem.status)) return mem;
  return FINAL.has(stored.status) || stored.attempts > mem.attempts ? stored : mem;
}

export type { NewUsage };
