/**
 * The durable async queue: one `jobs` row per async invocation (same id).
 * Workers claim due jobs under a time-limited lease with
 * `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent claimers never get the
 * same job and never wait for each other. Every later step names the lease it
 * holds — owner and attempt number — and is a no-op once that lease was
 * superseded, so a worker that outlived its lease cannot finish a newer
 * attempt's job. Lease times come from the database clock, never a server's.
 */
import { and, eq, inArray, lte, or, type SQL, sql } from "drizzle-orm";
import { invocations, jobs } from "../../db/schema.ts";
import type { Db, Queryable } from "./db.ts";
import { storeError } from "./errors.ts";
import {
  type Invocation,
  insertInvocation,
  type NewInvocation,
  type NewSpan,
  type NewUsage,
} from "./records.ts";
import { upsertRecords, upsertSpans } from "./upsert.ts";

export type Job = typeof jobs.$inferSelect;

/** What a claim hands out and every later call must present. */
export interface JobLease {
  id: string;
  owner: string;
  /** The job's attempt counter when claimed; a re-claim increments it and voids this lease. */
  attempt: number;
}

export interface ClaimedJob {
  job: Job;
  lease: JobLease;
}

export interface EnqueueInput {
  /** The invocation row; trigger and state are forced to async / queued. */
  invocation: Omit<NewInvocation, "trigger" | "state">;
  payload?: Uint8Array | null;
  maxAttempts?: number;
  /** Not before this instant (default: now). */
  runAt?: Date;
}

/** The final record of an attempt, written in the same transaction that settles the job. */
export interface AttemptRecord {
  record: NewInvocation;
  usage?: NewUsage | null;
  spans?: readonly NewSpan[];
}

const now = sql`now()`;
const leaseUntil = (ms: number) =>
  sql`now() + (${Math.max(0, Math.round(ms))}::int * interval '1 millisecond')`;

/**
 * Stores the invocation and its job in one transaction. With an idempotency
 * key already used (or an id already taken), nothing is written and the
 * earlier invocation comes back with `created: false`.
 */
export async function enqueue(
  db: Db,
  input: EnqueueInput,
): Promise<{ created: boolean; invocation: Invocation }> {
  try {
    return await db.transaction(async (tx) => {
      const row: NewInvocation = { ...input.invocation, trigger: "async", state: "queued" };
      const result = await insertInvocation(tx, row);
      if (!result.created) return result;
      await tx.insert(jobs).values({
        id: row.id,
        function: row.function,
        payload: input.payload ?? null,
        maxAttempts: input.maxAttempts ?? 3,
        runAt: input.runAt ?? now,
      });
      return result;
    });
  } catch (err) {
    throw storeError(`cannot enqueue invocation ${input.invocation.id}`, err);
  }
}

/**
 * Leases up to `limit` due jobs to `owner` for `leaseMs`: queued jobs whose
 * run_at has come, and leased jobs whose lease expired (their worker is
 * presumed dead). Expired jobs with no attempts left are moved to dead instead.
 */
export async function claim(db: Db, owner: string, leaseMs: number, limit: number): Promise<ClaimedJob[]> {
  try {
    return await db.transaction(async (tx) => {
      await buryExhausted(tx);
      const due = or(
        and(eq(jobs.state, "queued"), lte(jobs.runAt, now)),
        and(
          eq(jobs.state, "leased"),
          lte(jobs.leaseExpiresAt, now),
          sql`${jobs.attempts} < ${jobs.maxAttempts}`,
        ),
      );
      const ids = await lockIds(tx, due, limit);
      if (ids.length === 0) return [];
      const claimed = await tx
        .update(jobs)
        .set({
          state: "leased",
          attempts: sql`${jobs.attempts} + 1`,
          leaseOwner: owner,
          leaseExpiresAt: leaseUntil(leaseMs),
          heartbeatAt: now,
        })
        .where(inArray(jobs.id, ids))
        .returning();
      await tx
        .update(invocations)
        .set({
          state: "running",
          startedAt: now,
          attempt: sql`(select ${jobs.attempts} from ${jobs} where ${jobs.id} = ${invocations.id})`,
        })
        .where(inArray(invocations.id, ids));
      return claimed.map((job) => ({ job, lease: { id: job.id, owner, attempt: job.attempts } }));
    });
  } catch (err) {
    throw storeError(`cannot claim jobs for ${owner}`, err);
  }
}

/** Ids of rows matching `where`, locked for this transaction; rows other claimers hold are skipped, not awaited. */
async function lockIds(tx: Queryable, where: SQL | undefined, limit: number): Promise<string[]> {
  const rows = await tx
    .select({ id: jobs.id })
    .from(jobs)
    .where(where)
    .orderBy(jobs.runAt, jobs.id)
    .limit(limit)
    .for("update", { skipLocked: true });
  return rows.map((r) => r.id);
}

/** Expired leases on the last attempt: the job is dead and its invocation lost. */
async function buryExhausted(tx: Queryable): Promise<void> {
  const exhausted = and(
    eq(jobs.state, "leased"),
    lte(jobs.leaseExpiresAt, now),
    sql`${jobs.attempts} >= ${jobs.maxAttempts}`,
  );
  const ids = await lockIds(tx, exhausted, 1000);
  if (ids.length === 0) return;
  const error = "the lease of the last attempt expired (worker lost)";
  await tx.update(jobs).set({ state: "dead", lastError: error }).where(inArray(jobs.id, ids));
  await tx
    .update(invocations)
    .set({ state: "lost", reason: "lost", finishedAt: now, error })
    .where(inArray(invocations.id, ids));
}

/** The lease is still this attempt's: same owner, same attempt, still leased. */
function holds(lease: JobLease): SQL | undefined {
  return and(
    eq(jobs.id, lease.id),
    eq(jobs.state, "leased"),
    eq(jobs.leaseOwner, lease.owner),
    eq(jobs.attempts, lease.attempt),
  );
}

/** Extends the lease; false means it was lost and the worker should stop. */
export async function heartbeat(db: Queryable, lease: JobLease, leaseMs: number): Promise<boolean> {
  try {
    const rows = await db
      .update(jobs)
      .set({ leaseExpiresAt: leaseUntil(leaseMs), heartbeatAt: now })
      .where(holds(lease))
      .returning({ id: jobs.id });
    return rows.length > 0;
  } catch (err) {
    throw storeError(`cannot extend the lease of job ${lease.id}`, err);
  }
}

/**
 * Marks the job done and writes the attempt's record, both only while the
 * lease is still held. Returns false (and writes nothing) for a stale lease.
 */
export async function complete(db: Db, lease: JobLease, result?: AttemptRecord): Promise<boolean> {
  try {
    return await db.transaction(async (tx) => {
      const done = await tx
        .update(jobs)
        .set({ state: "done", leaseExpiresAt: null })
        .where(holds(lease))
        .returning({ id: jobs.id });
      if (done.length === 0) return false;
      if (result) await writeAttempt(tx, result);
      else await settleInvocation(tx, lease.id, { state: "succeeded" });
      return true;
    });
  } catch (err) {
    throw storeError(`cannot complete job ${lease.id}`, err);
  }
}

export interface FailOptions {
  error: string;
  /** When to try again (default: now); ignored when no attempts are left. */
  retryAt?: Date;
  /** The attempt's record; stored as final when the job dies, spans are kept either way. */
  result?: AttemptRecord;
}

/**
 * Gives the job back for another attempt at `retryAt`, or moves it to dead
 * when it has used max_attempts. "stale" when the lease was no longer held.
 */
export async function fail(
  db: Db,
  lease: JobLease,
  options: FailOptions,
): Promise<"retry" | "dead" | "stale"> {
  try {
    return await db.transaction(async (tx) => {
      const [job] = await tx.select().from(jobs).where(holds(lease)).for("update");
      if (!job) return "stale";
      if (job.attempts >= job.maxAttempts) {
        await tx
          .update(jobs)
          .set({ state: "dead", leaseExpiresAt: null, lastError: options.error })
          .where(holds(lease));
        if (options.result) await writeAttempt(tx, options.result);
        else await settleInvocation(tx, lease.id, { state: "failed", error: options.error });
        return "dead";
      }
      await tx
        .update(jobs)
        .set({
          state: "queued",
          runAt: options.retryAt ?? now,
          leaseOwner: null,
          leaseExpiresAt: null,
          lastError: options.error,
        })
        .where(holds(lease));
      await tx
        .update(invocations)
        .set({ state: "queued", error: options.error })
        .where(eq(invocations.id, lease.id));
      if (options.result?.spans) await upsertSpans(tx, options.result.spans);
      return "retry";
    });
  } catch (err) {
    throw storeError(`cannot fail job ${lease.id}`, err);
  }
}

async function writeAttempt(tx: Queryable, result: AttemptRecord): Promise<void> {
  await upsertRecords(tx, {
    invocations: [result.record],
    usage: result.usage ? [result.usage] : [],
    spans: result.spans ?? [],
  });
}

async function settleInvocation(
  tx: Queryable,
  id: string,
  fields: { state: "succeeded" | "failed"; error?: string },
): Promise<void> {
  await tx
    .update(invocations)
    .set({ ...fields, finishedAt: now })
    .where(eq(invocations.id, id));
}

export async function getJob(db: Queryable, id: string): Promise<Job | null> {
  try {
    const [job] = await db.select().from(jobs).where(eq(jobs.id, id));
    return job ?? null;
  } catch (err) {
    throw storeError(`cannot read job ${id}`, err);
  }
}
