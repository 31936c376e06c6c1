/**
 * Where the dashboard's numbers come from: SQL over the records when the
 * gateway was handed the database, otherwise the invocations the gateway can
 * read (the in-memory log, merged with the store's reader when that is on).
 * Pages only see this interface, so both sources render the same pages.
 */
import type { InvocationReader, InvocationRecord } from "../../invoke/record.ts";
import {
  type ColdStartStats,
  coldStarts,
  type FunctionTotals,
  functionTotals,
  type LatencyPoint,
  latencySeries,
  type OutcomeCount,
  type OutcomeKind,
  outcomeCounts,
  type StatusBucket,
  statusBuckets,
  type TimeRange,
  type Totals,
  totals,
  type UsagePoint,
  usageSeries,
} from "../../store/dashboard.ts";
import type { Db } from "../../store/db.ts";
import { getInvocation } from "../../store/records.ts";
import type { UiDeps } from "./context.ts";

export type {
  ColdStartStats,
  FunctionTotals,
  LatencyPoint,
  OutcomeCount,
  StatusBucket,
  TimeRange,
  Totals,
  UsagePoint,
};

export interface SpanView {
  name: string;
  /** Milliseconds since the epoch (fractional). */
  startMs: number;
  endMs: number;
  parent: string | null;
  id: string;
}

export interface UsageView {
  cpuUserMs: number;
  cpuSystemMs: number;
  memoryPeakBytes: number;
  maxRssBytes: number;
  pidsPeak: number;
  throttledMs: number | null;
}

export interface InvocationExtras {
  spans: SpanView[];
  usage: UsageView | null;
  warm: boolean | null;
  stdoutTail: string | null;
  /** True when the spans were measured (the store), false when drawn from the record's timestamps. */
  measured: boolean;
}

export interface DashboardData {
  readonly source: "store" | "memory";
  totals(range: TimeRange): Promise<Totals>;
  functionTotals(range: TimeRange): Promise<FunctionTotals[]>;
  statusBuckets(range: TimeRange, bucketSec: number): Promise<StatusBucket[]>;
  latency(range: TimeRange, bucketSec: number, fn?: string): Promise<LatencyPoint[]>;
  outcomes(range: TimeRange, fn?: string): Promise<OutcomeCount[]>;
  coldStarts(range: TimeRange, fn?: string): Promise<ColdStartStats>;
  usage(range: TimeRange, bucketSec: number, fn?: string): Promise<UsagePoint[]>;
  extras(record: InvocationRecord): Promise<InvocationExtras>;
}

/** The aggregates as SQL over the records (src/store/dashboard.ts). */
/** The dashboard's data as the deps provide it: given, from the store, or from memory. */
export function dashboardData(deps: Pick<UiDeps, "dashboard" | "db" | "invocations">): DashboardData {
  if (deps.dashboard) return deps.dashboard;
  return deps.db ? storeData(deps.db) : memoryData(deps.invocations);
}

export function storeData(db: Db): DashboardData {
  return {
    source: "store",
    totals: (r) => totals(db, r),
    functionTotals: (r) => functionTotals(db, r),
    statusBuckets: (r, b) => statusBuckets(db, r, b),
    latency: (r, b, fn) => latencySeries(db, r, b, fn),
    outcomes: (r, fn) => outcomeCounts(db, r, fn),
    coldStarts: (r, fn) => coldStarts(db, r, fn),
    usage: (r, b, fn) => usageSeries(db, r, b, fn),
    async extras(record) {
      const row = await getInvocation(db, record.id);
      if (!row) return timestampExtras(record);
      const spans = row.spans.map((s) => ({
        id: s.spanId,
        parent: s.parentSpanId,
        name: s.name,
        startMs: Number(s.startNs / 1000n) / 1000,
        endMs: Number(s.endNs / 1000n) / 1000,
      }));
      const u = row.usage;
      return {
        spans: spans.length > 0 ? spans : timestampExtras(record).spans,
        measured: spans.length > 0,
        warm: row.warm,
        stdoutTail: row.stdoutTail,
        usage: u && {
          cpuUserMs: u.cpuUserMs,
          cpuSystemMs: u.cpuSystemMs,
          memoryPeakBytes: u.memoryPeakBytes,
          maxRssBytes: u.maxRssBytes,
          pidsPeak: u.pidsPeak,
          throttledMs: u.throttledMs,
        },
      };
    },
  };
}

/** Without the database: the stages the record's own timestamps show (queued -> started -> finished). */
function timestampExtras(r: InvocationRecord): InvocationExtras {
  const spans: SpanView[] = [];
  const queued = Date.parse(r.createdAt);
  const started = r.startedAt ? Date.parse(r.startedAt) : undefined;
  const finished = r.finishedAt ? Date.parse(r.finishedAt) : undefined;
  if (started !== undefined)
    spans.push({ id: "wait", parent: null, name: "admit", startMs: queued, endMs: started });
  if (started !== undefined)
    spans.push({ id: "run", parent: null, name: "run", startMs: started, endMs: finished ?? Date.now() });
  return { spans, usage: null, warm: null, stdoutTail: null, measured: false };
}

/** Linear interpolation between ranks, as Postgres's percentile_cont. */
export function percentileCont(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  const a = sorted[lo] ?? 0;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] ?? a;
  return a + (b - a) * (rank - lo);
}

function durationOf(r: InvocationRecord): number | undefined {
  if (r.durationMs !== undefined) return r.durationMs;
  if (r.startedAt && r.finishedAt) return Date.parse(r.finishedAt) - Date.parse(r.startedAt);
  return undefined;
}

const FAILED = new Set(["failed", "timeout", "error"]);

function outcomeOf(r: InvocationRecord): OutcomeKind | undefined {
  if (r.status === "error" && r.error?.startsWith("lost")) return "lost";
  if (r.reason === undefined) return undefined;
  if (r.reason === "exited") return r.exitCode === 0 ? "exited" : "non-zero";
  return r.reason;
}

function totalsOf(rows: readonly InvocationRecord[]): Totals {
  const ds = rows
    .map(durationOf)
    .filter((d): d is number => d !== undefined)
    .sort((a, b) => a - b);
  return {
    total: rows.length,
    finished: rows.filter((r) => r.finishedAt !== undefined).length,
    failed: rows.filter((r) => FAILED.has(r.status)).length,
    running: rows.filter((r) => r.status === "running").length,
    queued: rows.filter((r) => r.status === "queued").length,
    // The in-memory record does not say whether the slot was warm.
    warmKnown: 0,
    cold: 0,
    p50Ms: percentileCont(ds, 0.5),
    p90Ms: percentileCont(ds, 0.9),
    p99Ms: percentileCont(ds, 0.99),
  };
}

function bucket(r: InvocationRecord, sec: number): number {
  return Math.floor(Date.parse(r.createdAt) / 1000 / sec) * sec;
}

function groupBy<K>(rows: readonly InvocationRecord[], key: (r: InvocationRecord) => K) {
  const out = new Map<K, InvocationRecord[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

/** The same aggregates in JS over the newest invocations a reader holds (at most 1000). */
export function memoryData(reader: InvocationReader): DashboardData {
  const rows = async (range: TimeRange, fn?: string) => {
    const list = await reader.list({ limit: 1000, ...(fn === undefined ? {} : { function: fn }) });
    const since = range.since.getTime();
    const until = range.until.getTime();
    return list.filter((r) => {
      const t = Date.parse(r.createdAt);
      return t >= since && t < until;
    });
  };
  return {
    source: "memory",
    totals: async (range) => totalsOf(await rows(range)),
    async functionTotals(range) {
      const groups = groupBy(await rows(range), (r) => r.function);
      return [...groups]
        .map(([fn, list]) => ({
          function: fn,
          ...totalsOf(list),
          lastQueuedAt: new Date(Math.max(...list.map((r) => Date.parse(r.createdAt)))),
        }))
        .sort((a, b) => b.total - a.total || a.function.localeCompare(b.function));
    },
    async statusBuckets(range, sec) {
      const out: StatusBucket[] = [];
      for (const [key, list] of groupBy(await rows(range), (r) => `${r.function}\n${bucket(r, sec)}`)) {
        const [fn = "", t = "0"] = key.split("\n");
        out.push({ function: fn, t: Number(t), total: list.length, failed: totalsOf(list).failed });
      }
      return out.sort((a, b) => a.function.localeCompare(b.function) || a.t - b.t);
    },
    async latency(range, sec, fn) {
      return [...groupBy(await rows(range, fn), (r) => bucket(r, sec))]
        .map(([t, list]) => {
          const s = totalsOf(list);
          return { t, count: s.total, errors: s.failed, p50Ms: s.p50Ms, p90Ms: s.p90Ms, p99Ms: s.p99Ms };
        })
        .sort((a, b) => a.t - b.t);
    },
    async outcomes(range, fn) {
      const counts = new Map<OutcomeKind, number>();
      for (const r of await rows(range, fn)) {
        const o = outcomeOf(r);
        if (o) counts.set(o, (counts.get(o) ?? 0) + 1);
      }
      return [...counts].map(([outcome, count]) => ({ outcome, count })).sort((a, b) => b.count - a.count);
    },
    coldStarts: async () => ({ cold: 0, warm: 0, initMsAvg: null }),
    usage: async () => [],
    extras: async (record) => timestampExtras(record),
  };
}
