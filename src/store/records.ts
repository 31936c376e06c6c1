/**
 * Typed queries over invocations, usage and spans. Every function takes a
 * `Queryable` (database or transaction) so callers can compose them in one
 * transaction (the queue does). Writes that may be replayed — from the
 * writer's journal or a retried batch — are upserts keyed by ids, so applying
 * them twice changes nothing.
 */
import { and, desc, eq, inArray, isNull, lt, ne, type SQL, sql } from "drizzle-orm";
import { type InvocationState, invocations, spanRows, type spans, usage } from "../../db/schema.ts";
import type { Outcome, Usage } from "../driver/types.ts";
import type { Queryable } from "./db.ts";
import { storeError } from "./errors.ts";
import { upsertRecords } from "./upsert.ts";

export type Invocation = typeof invocations.$inferSelect;
export type NewInvocation = typeof invocations.$inferInsert;
export type UsageRow = typeof usage.$inferSelect;
export type NewUsage = typeof usage.$inferInsert;
/** A span as read: stage entries come back as rows of their own (the span_rows view). */
export type SpanRow = typeof spanRows.$inferSelect;
export type NewSpan = typeof spans.$inferInsert;

export interface InvocationDetail extends Invocation {
  usage: UsageRow | null;
  spans: SpanRow[];
}

/** Fields an update may change; id, function and trigger are fixed at insert. */
export type InvocationPatch = Partial<Omit<NewInvocation, "id" | "function" | "trigger">> & {
  state: InvocationState;
};

export const TERMINAL_STATES: readonly InvocationState[] = ["succeeded", "failed", "lost", "cancelled"];

/** Which states may move to which: terminal states are final; running may go back to queued (a retry). */
const TRANSITIONS: Record<InvocationState, readonly InvocationState[]> = {
  queued: ["queued", "running", "failed", "lost", "cancelled"],
  running: ["running", "queued", "succeeded", "failed", "lost", "cancelled"],
  succeeded: [],
  failed: [],
  lost: [],
  cancelled: [],
};

export function canTransition(from: InvocationState, to: InvocationState): boolean {
  return TRANSITIONS[from].includes(to);
}

function statesLeadingTo(to: InvocationState): InvocationState[] {
  return (Object.keys(TRANSITIONS) as InvocationState[]).filter((from) => canTransition(from, to));
}

/**
 * Inserts a new invocation. When the id or (function, idempotency key) already
 * exists, nothing is written and the existing row is returned with
 * `created: false` — the caller answers with the earlier invocation.
 */
export async function insertInvocation(
  db: Queryable,
  row: NewInvocation,
): Promise<{ created: boolean; invocation: Invocation }> {
  try {
    const inserted = await db.insert(invocations).values(row).onConflictDoNothing().returning();
    const first = inserted[0];
    if (first) return { created: true, invocation: first };
    const existing = await findConflicting(db, row);
    if (!existing) throw new Error("insert conflicted but no conflicting row was found");
    return { created: false, invocation: existing };
  } catch (err) {
    throw storeError(`cannot insert invocation ${row.id}`, err);
  }
}

async function findConflicting(db: Queryable, row: NewInvocation): Promise<Invocation | undefined> {
  const byKey = row.idempotencyKey ? await findByIdempotencyKey(db, row.function, row.idempotencyKey) : null;
  if (byKey) return byKey;
  const [byId] = await db.select().from(invocations).where(eq(invocations.id, row.id));
  return byId;
}

/**
 * Moves an invocation to `patch.state` and sets the other patched fields, only
 * if the current state allows it (see canTransition). Returns the updated row,
 * or null when the row is missing or the transition is not allowed — a late
 * "running" cannot resurrect a finished invocation.
 */
export async function updateInvocation(
  db: Queryable,
  id: string,
  patch: InvocationPatch,
): Promise<Invocation | null> {
  try {
    const [row] = await db
      .update(invocations)
      .set(patch)
      .where(and(eq(invocations.id, id), inArray(invocations.state, statesLeadingTo(patch.state))))
      .returning();
    return row ?? null;
  } catch (err) {
    throw storeError(`cannot update invocation ${id}`, err);
  }
}

/** One invocation's row alone, as the API's record needs it; getInvocation adds usage and spans. */
export async function findInvocation(db: Queryable, id: string): Promise<Invocation | null> {
  try {
    const [row] = await db.select().from(invocations).where(eq(invocations.id, id));
    return row ?? null;
  } catch (err) {
    throw storeError(`cannot read invocation ${id}`, err);
  }
}

export async function getInvocation(db: Queryable, id: string): Promise<InvocationDetail | null> {
  const row = await findInvocation(db, id);
  if (!row) return null;
  try {
    const [usageRow] = await db.select().from(usage).where(eq(usage.invocationId, id));
    const stored = await db
      .select()
      .from(spanRows)
      .where(eq(spanRows.invocationId, id))
      .orderBy(spanRows.startNs, spanRows.spanId);
    return { ...row, usage: usageRow ?? null, spans: stored };
  } catch (err) {
    throw storeError(`cannot read invocation ${id}`, err);
  }
}

/** A page position: the last row of the previous page (exact), or just a time. */
export type ListCursor = Date | { queuedAt: Date; id: string };

export interface ListInvocationsQuery {
  function?: string;
  state?: InvocationState;
  limit: number;
  /** Only rows queued strictly before this position (newest first). */
  before?: ListCursor;
}

export async function listInvocations(db: Queryable, query: ListInvocationsQuery): Promise<Invocation[]> {
  const where: SQL[] = [];
  if (query.function !== undefined) where.push(eq(invocations.function, query.function));
  if (query.state !== undefined) where.push(eq(invocations.state, query.state));
  if (query.before !== undefined) where.push(beforeCursor(query.before));
  try {
    return await db
      .select()
      .from(invocations)
      .where(and(...where))
      .orderBy(desc(invocations.queuedAt), desc(invocations.id))
      .limit(Math.max(0, Math.min(query.limit, 1000)));
  } catch (err) {
    throw storeError("cannot list invocations", err);
  }
}

function beforeCursor(cursor: ListCursor): SQL {
  if (cursor instanceof Date) return lt(invocations.queuedAt, cursor);
  // Row comparison keeps paging exact when several calls share a timestamp.
  return sql`(${invocations.queuedAt}, ${invocations.id}) < (${cursor.queuedAt.toISOString()}::timestamptz, ${cursor.id})`;
}

export async function findByIdempotencyKey(
  db: Queryable,
  fn: string,
  key: string,
): Promise<Invocation | null> {
  try {
    const [row] = await db
      .select()
      .from(invocations)
      .where(and(eq(invocations.function, fn), eq(invocations.idempotencyKey, key)));
    return row ?? null;
  } catch (err) {
    throw storeError(`cannot look up idempotency key for ${fn}`, err);
  }
}

/**
 * Writes the final record of an invocation with its usage and spans in one
 * statement (atomic). An upsert, so it works whether or not a "running" row
 * was written first, and replaying it is harmless.
 */
export async function finishInvocation(
  db: Queryable,
  record: NewInvocation,
  usageRow?: NewUsage | null,
  spanRows: readonly NewSpan[] = [],
): Promise<void> {
  try {
    await upsertRecords(db, { invocations: [record], usage: usageRow ? [usageRow] : [], spans: spanRows });
  } catch (err) {
    throw storeError(`cannot record the end of invocation ${record.id}`, err);
  }
}

export interface MarkLostOptions {
  /** Only rows this node ran; omit on a single-server install to sweep every row. */
  node?: string;
  /** Only rows queued before this instant (this process's start), so live calls are never touched. */
  queuedBefore: Date;
}

/**
 * At start-up: a synchronous invocation (http, cron, cli) still queued or
 * running was owned by a process that no longer exists, so it will never
 * finish — record it as lost. Async invocations are left alone: their job's
 * lease expires and the queue runs them again.
 */
export async function markLost(db: Queryable, options: MarkLostOptions): Promise<string[]> {
  const where = [
    inArray(invocations.state, ["queued", "running"]),
    ne(invocations.trigger, "async"),
    isNull(invocations.finishedAt),
    lt(invocations.queuedAt, options.queuedBefore),
  ];
  if (options.node !== undefined) where.push(eq(invocations.node, options.node));
  try {
    const rows = await db
      .update(invocations)
      .set({
        state: "lost",
        reason: "lost",
        finishedAt: sql`now()`,
        error: "the server stopped before the invocation finished",
      })
      .where(and(...where))
      .returning({ id: invocations.id });
    return rows.map((r) => r.id);
  } catch (err) {
    throw storeError("cannot mark lost invocations", err);
  }
}

// ---------------------------------------------------------------------------
// From the driver's vocabulary to stored fields.

/** The stored fields for a driver Outcome: exit 0 succeeded, a stop is a cancel, anything else failed. */
export function outcomeFields(
  outcome: Outcome,
): Pick<NewInvocation, "state" | "reason" | "exitCode" | "signal" | "error"> {
  const state: InvocationState =
    outcome.reason === "stopped"
      ? "cancelled"
      : outcome.reason === "exited" && outcome.exitCode === 0
        ? "succeeded"
        : "failed";
  return {
    state,
    reason: outcome.reason,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    error: outcome.error ?? null,
  };
}

export function usageRow(invocationId: string, u: Usage, extra: Partial<NewUsage> = {}): NewUsage {
  return {
    ...extra,
    invocationId,
    cpuUserMs: Math.round(u.cpuUserMs),
    cpuSystemMs: Math.round(u.cpuSystemMs),
    memoryPeakBytes: u.memoryPeakBytes,
    maxRssBytes: u.maxRssBytes,
    pidsPeak: u.pidsPeak,
  };
}

/** Reads the state of many invocations at once (tests and the queue's bookkeeping). */
export async function countInvocations(db: Queryable, where?: SQL): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(invocations).where(where);
  return row?.n ?? 0;
}
