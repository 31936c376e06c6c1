/**
 * The dashboard's SQL aggregates over seeded rows, on PGlite and the shared
 * Postgres alike (a fresh database per backend).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  coldStarts,
  functionTotals,
  latencySeries,
  outcomeCounts,
  statusBuckets,
  totals,
  usageSeries,
} from "../../src/store/dashboard.ts";
import type { NewInvocation, NewSpan } from "../../src/store/records.ts";
import { upsertRecords, upsertSpans } from "../../src/store/upsert.ts";
import { BACKENDS, newInvocation, removeTempDirs, type TestDatabase } from "../store/helpers.ts";

afterAll(removeTempDirs);

const BASE = Date.UTC(2030, 0, 1, 12, 0, 0);
const at = (sec: number) => new Date(BASE + sec * 1000);
const range = { since: at(0), until: at(3600) };

/** A finished run queued at `sec`, running `ms` milliseconds. */
function done(fn: string, sec: number, ms: number, f: Partial<NewInvocation> = {}): NewInvocation {
  return newInvocation({
    function: fn,
    state: "succeeded",
    reason: "exited",
    exitCode: 0,
    queuedAt: at(sec),
    startedAt: at(sec),
    finishedAt: new Date(BASE + sec * 1000 + ms),
    warm: true,
    ...f,
  });
}

function span(invocationId: string, name: string, startMs: number, ms: number): NewSpan {
  const ns = BigInt(BASE + startMs) * 1_000_000n;
  return {
    spanId: Bun.randomUUIDv7().replaceAll("-", "").slice(0, 16),
    traceId: "0".repeat(32),
    invocationId,
    name,
    startNs: ns,
    endNs: ns + BigInt(ms * 1_000_000),
  };
}

for (const backend of BACKENDS) {
  describe(`dashboard aggregates on ${backend.name}`, () => {
    let t: TestDatabase;
    // "alpha": ten runs of 10..100 ms in the first minute, one cold; "beta": a failure, a timeout, an OOM.
    const alpha = Array.from({ length: 10 }, (_, i) => done("alpha", i, (i + 1) * 10, { warm: i !== 0 }));
    const beta = [
      done("beta", 70, 5, { state: "failed", exitCode: 3 }),
      done("beta", 80, 2000, { state: "failed", reason: "timeout", exitCode: -1 }),
      done("beta", 90, 50, { state: "failed", reason: "oom", exitCode: 137 }),
      newInvocation({ function: "beta", state: "running", queuedAt: at(100), startedAt: at(100) }),
      // Outside the range: never counted.
      done("beta", 4000, 1),
    ];
    const cold = alpha[0] as NewInvocation;

    beforeAll(async () => {
      t = await backend.open();
      const db = t.database.db;
      await upsertRecords(db, { invocations: [...alpha, ...beta], usage: [], spans: [] });
      await upsertRecords(db, {
        invocations: [],
        usage: [
          {
            invocationId: cold.id,
            cpuUserMs: 30,
            cpuSystemMs: 10,
            memoryPeakBytes: 8 << 20,
            maxRssBytes: 1,
            pidsPeak: 1,
          },
          {
            invocationId: (alpha[1] as NewInvocation).id,
            cpuUserMs: 10,
            cpuSystemMs: 10,
            memoryPeakBytes: 4 << 20,
            maxRssBytes: 1,
            pidsPeak: 1,
          },
        ],
        spans: [],
      });
      await upsertSpans(db, [
        span(cold.id, "admit", 0, 1),
        span(cold.id, "prepare root", 1, 6),
        span(cold.id, "spawn", 7, 2),
        span(cold.id, "run", 9, 1),
      ]);
    }, 60_000);

    afterAll(async () => {
      await t?.dispose();
    });

    test("totals count states, failures, cold runs and percentiles", async () => {
      const all = await totals(t.database.db, range);
      expect(all.total).toBe(14);
      expect(all.finished).toBe(13);
      expect(all.failed).toBe(3);
      expect(all.running).toBe(1);
      expect(all.cold).toBe(1);
      expect(all.warmKnown).toBe(13);
      expect(all.p99Ms).toBeGreaterThan(1000);
      // 5, 10..100 (with 50 twice), 2000: the 7th of 13 is 50.
      expect(all.p50Ms).toBeCloseTo(50, 5);
    });

    test("per-function totals, busiest first, with percentiles and the last call", async () => {
      const rows = await functionTotals(t.database.db, range);
      expect(rows.map((r) => r.function)).toEqual(["alpha", "beta"]);
      const [a, b] = rows;
      expect(a?.total).toBe(10);
      expect(a?.failed).toBe(0);
      expect(a?.p50Ms).toBeCloseTo(55, 5);
      expect(a?.p90Ms).toBeCloseTo(91, 5);
      expect(a?.lastQueuedAt?.getTime()).toBe(at(9).getTime());
      expect(b?.failed).toBe(3);
      expect(b?.running).toBe(1);
    });

    test("latency series buckets by minute", async () => {
      const series = await latencySeries(t.database.db, range, 60);
      expect(series.map((p) => p.t)).toEqual([at(0).getTime() / 1000, at(60).getTime() / 1000]);
      expect(series[0]?.count).toBe(10);
      expect(series[1]?.count).toBe(4);
      expect(series[1]?.errors).toBe(3);
      const alphaOnly = await latencySeries(t.database.db, range, 60, "alpha");
      expect(alphaOnly).toHaveLength(1);
      expect(alphaOnly[0]?.p99Ms).toBeCloseTo(99.1, 5);
    });

    test("outcomes tell exit 0 from non-zero, timeout and OOM", async () => {
      const rows = await outcomeCounts(t.database.db, range);
      const byKind = Object.fromEntries(rows.map((r) => [r.outcome, r.count]));
      expect(byKind).toEqual({ exited: 10, "non-zero": 1, timeout: 1, oom: 1 });
    });

    test("cold starts and their init time come from the spans", async () => {
      const c = await coldStarts(t.database.db, range, "alpha");
      expect(c).toEqual({ cold: 1, warm: 9, initMsAvg: 8 });
      const none = await coldStarts(t.database.db, range, "beta");
      expect(none.initMsAvg).toBeNull();
    });

    test("stages kept in their invocation span's row count like stage rows", async () => {
      // Out of the range the other tests use, so their counts stay as they are.
      const later = { since: at(5000), until: at(6000) };
      const gamma = done("gamma", 5000, 30, { warm: false });
      await upsertRecords(t.database.db, { invocations: [gamma], usage: [], spans: [] });
      const root = span(gamma.id, "gamma", 0, 30);
      const stage = (name: string, startMs: number, ms: number) => {
        const { spanId, startNs, endNs } = span(gamma.id, name, startMs, ms);
        return { i: spanId, n: name, s: String(startNs), e: String(endNs) };
      };
      root.stages = [
        stage("admit", 0, 1),
        stage("prepare root", 1, 4),
        stage("spawn", 5, 3),
        stage("run", 8, 20),
      ];
      await upsertSpans(t.database.db, [root]);
      expect(await coldStarts(t.database.db, later, "gamma")).toEqual({ cold: 1, warm: 0, initMsAvg: 7 });
    });

    test("usage series and status buckets", async () => {
      const u = await usageSeries(t.database.db, range, 60, "alpha");
      expect(u).toEqual([{ t: at(0).getTime() / 1000, runs: 2, cpuMsAvg: 30, memoryPeakBytesMax: 8 << 20 }]);
      const s = await statusBuckets(t.database.db, range, 60);
      expect(s.filter((b) => b.function === "beta").map((b) => [b.total, b.failed])).toEqual([[4, 3]]);
    });
  });
}
