/**
 * The dashboard's aggregates, computed in SQL over the records so a chart costs
 * one indexed scan of (function, queued_at) instead of shipping rows to Bun.
 * Plain Postgres only (percentile_cont, floor(extract(epoch ...))) so PGlite and
 * Postgres answer alike. Every number is cast to int or float8 in SQL: both
 * drivers return those as JS numbers (bigint and numeric come back as strings).
 */
import { and, eq, gte, inArray, lt, type SQL, sql } from "drizzle-orm";
import { invocations, spanRows, usage } from "../../db/schema.ts";
import type { Queryable } from "./db.ts";
import { storeError } from "./errors.ts";

export interface TimeRange {
  since: Date;
  until: Date;
}

/** Why a run ended, in the words of the dashboard (the driver's reason, with exit 0 apart from non-zero). */
export const OUTCOMES = [
  "exited",
  "non-zero",
  "signaled",
  "timeout",
  "oom",
  "setup_failed",
  "stopped",
  "lost",
] as const;
export type OutcomeKind = (typeof OUTCOMES)[number];

export interface Totals {
  total: number;
  finished: number;
  failed: number;
  running: number;
  queued: number;
  /** Runs whose warm/cold is known, and the cold ones among them. */
  warmKnown: number;
  cold: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export interface FunctionTotals extends Totals {
  function: string;
  lastQueuedAt: Date | null;
}

export interface LatencyPoint {
  /** Start of the bucket, seconds since the epoch. */
  t: number;
  count: number;
  errors: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export interface UsagePoint {
  t: number;
  runs: number;
  cpuMsAvg: number | null;
  memoryPeakBytesMax: number | null;
}

export interface OutcomeCount {
  outcome: OutcomeKind;
  count: number;
}

export interface ColdStartStats {
  cold: number;
  warm: number;
  /** Mean of prepare + spawn stage time of cold runs, from their spans. */
  initMsAvg: number | null;
}

export interface StatusBucket {
  function: string;
  t: number;
  total: number;
  failed: number;
}

const durationMs = sql`(extract(epoch from (${invocations.finishedAt} - ${invocations.startedAt})) * 1000)::float8`;
const isFinished = sql`${invocations.finishedAt} is not null and ${invocations.startedAt} is not null`;
const isFailed = sql`${invocations.state} in ('failed', 'lost')`;

function percentile(p: number): SQL<number | null> {
  return sql<
    number | null
  >`(percentile_cont(${sql.raw(String(p))}) within group (order by ${durationMs}) filter (where ${isFinished}))::float8`;
}

function totalsColumns() {
  return {
    total: sql<number>`count(*)::int`,
    finished: sql<number>`(count(*) filter (where ${invocations.finishedAt} is not null))::int`,
    failed: sql<number>`(count(*) filter (where ${isFailed}))::int`,
    running: sql<number>`(count(*) filter (where ${invocations.state} = 'running'))::int`,
    queued: sql<number>`(count(*) filter (where ${invocations.state} = 'queued'))::int`,
    warmKnown: sql<number>`(count(*) filter (where ${invocations.warm} is not null))::int`,
    cold: sql<number>`(count(*) filter (where ${invocations.warm} = false))::int`,
    p50Ms: percentile(0.5),
    p90Ms: percentile(0.9),
    p99Ms: percentile(0.99),
  };
}

function inRange(range: TimeRange, fn?: string): SQL | undefined {
  return and(
    fn === undefined ? undefined : eq(invocations.function, fn),
    gte(invocations.queuedAt, range.since),
    lt(invocations.queuedAt, range.until),
  );
}

/** Start of a `bucketSec` bucket of queued_at, in epoch seconds. */
function bucketOf(bucketSec: number): SQL<number> {
  const b = sql.raw(String(Math.max(1, Math.floor(bucketSec))));
  return sql<number>`(floor(extract(epoch from ${invocations.queuedAt})::float8 / ${b}) * ${b})::float8`;
}

async function run<T>(what: string, query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (err) {
    throw storeError(`cannot compute ${what}`, err);
  }
}

/** Counts and latency percentiles over all functions in the range. */
export function totals(db: Queryable, range: TimeRange): Promise<Totals> {
  return run("dashboard totals", async () => {
    const [row] = await db.select(totalsColumns()).from(invocations).where(inRange(range));
    return (
      row ?? {
        total: 0,
        finished: 0,
        failed: 0,
        running: 0,
        queued: 0,
        warmKnown: 0,
        cold: 0,
        p50Ms: null,
        p90Ms: null,
        p99Ms: null,
      }
    );
  });
}

/** The same per function, busiest first. */
export function functionTotals(db: Queryable, range: TimeRange): Promise<FunctionTotals[]> {
  return run("per-function totals", () =>
    db
      .select({
        function: invocations.function,
        ...totalsColumns(),
        lastQueuedAt: sql<Date | null>`max(${invocations.queuedAt})`.mapWith(invocations.queuedAt),
      })
      .from(invocations)
      .where(inRange(range))
      .groupBy(invocations.function)
      .orderBy(sql`count(*) desc`, invocations.function),
  );
}

/** Runs and failures per function per bucket: the status sparklines of the functions table. */
export function statusBuckets(db: Queryable, range: TimeRange, bucketSec: number): Promise<StatusBucket[]> {
  const t = bucketOf(bucketSec);
  return run("status buckets", () =>
    db
      .select({
        function: invocations.function,
        t,
        total: sql<number>`count(*)::int`,
        failed: sql<number>`(count(*) filter (where ${isFailed}))::int`,
      })
      .from(invocations)
      .where(inRange(range))
      .groupBy(invocations.function, t)
      .orderBy(invocations.function, t),
  );
}

/** Latency percentiles and counts per bucket, for one function or all. */
export function latencySeries(
  db: Queryable,
  range: TimeRange,
  bucketSec: number,
  fn?: string,
): Promise<LatencyPoint[]> {
  const t = bucketOf(bucketSec);
  return run("latency series", () =>
    db
      .select({
        t,
        count: sql<number>`count(*)::int`,
        errors: sql<number>`(count(*) filter (where ${isFailed}))::int`,
        p50Ms: percentile(0.5),
        p90Ms: percentile(0.9),
        p99Ms: percentile(0.99),
      })
      .from(invocations)
      .where(inRange(range, fn))
      .groupBy(t)
      .orderBy(t),
  );
}

const outcomeOf = sql<OutcomeKind>`case
  when ${invocations.reason} = 'exited' and ${invocations.exitCode} = 0 then 'exited'
  when ${invocations.reason} = 'exited' then 'non-zero'
  else ${invocations.reason} end`;

/** Finished runs by how they ended (exited, non-zero, signaled, timeout, oom, setup failed, stopped, lost). */
export function outcomeCounts(db: Queryable, range: TimeRange, fn?: string): Promise<OutcomeCount[]> {
  return run("outcome counts", () =>
    db
      .select({ outcome: outcomeOf, count: sql<number>`count(*)::int` })
      .from(invocations)
      .where(and(inRange(range, fn), sql`${invocations.reason} is not null`))
      .groupBy(outcomeOf)
      .orderBy(sql`count(*) desc`),
  );
}

/** Cold and warm runs, and the mean init time (prepare + spawn spans) of the cold ones. */
export function coldStarts(db: Queryable, range: TimeRange, fn?: string): Promise<ColdStartStats> {
  return run("cold-start stats", async () => {
    const [counts] = await db
      .select({
        cold: sql<number>`(count(*) filter (where ${invocations.warm} = false))::int`,
        warm: sql<number>`(count(*) filter (where ${invocations.warm} = true))::int`,
      })
      .from(invocations)
      .where(inRange(range, fn));
    const perRun = db
      .select({
        id: spanRows.invocationId,
        ms: sql<number>`(sum(${spanRows.endNs} - ${spanRows.startNs}) / 1000000.0)::float8`.as("ms"),
      })
      .from(spanRows)
      .innerJoin(invocations, eq(invocations.id, spanRows.invocationId))
      .where(
        and(
          inRange(range, fn),
          eq(invocations.warm, false),
          inArray(spanRows.name, ["prepare root", "prepare", "spawn"]),
        ),
      )
      .groupBy(spanRows.invocationId)
      .as("per_run");
    const [init] = await db.select({ avg: sql<number | null>`avg(${perRun.ms})::float8` }).from(perRun);
    return { cold: counts?.cold ?? 0, warm: counts?.warm ?? 0, initMsAvg: init?.avg ?? null };
  });
}

/** Mean CPU time and the highest memory peak per bucket (usage rows joined to their invocation). */
export function usageSeries(
  db: Queryable,
  range: TimeRange,
  bucketSec: number,
  fn?: string,
): Promise<UsagePoint[]> {
  const t = bucketOf(bucketSec);
  return run("usage series", () =>
    db
      .select({
        t,
        runs: sql<number>`count(*)::int`,
        cpuMsAvg: sql<number | null>`avg(${usage.cpuUserMs} + ${usage.cpuSystemMs})::float8`,
        memoryPeakBytesMax: sql<number | null>`max(${usage.memoryPeakBytes})::float8`,
      })
      .from(usage)
      .innerJoin(invocations, eq(invocations.id, usage.invocationId))
      .where(inRange(range, fn))
      .groupBy(t)
      .orderBy(t),
  );
}
