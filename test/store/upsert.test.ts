/**
 * The JSON batch upserts (src/store/upsert.ts) on both backends: every column
 * kind survives the trip through one JSON parameter exactly, a batch with an
 * invocation, its usage and its spans lands as one statement, replays change
 * nothing, and the statements work the same inside a transaction (drizzle's
 * path) as on the driver directly (prepared).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { bigint, customType, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { statementRunner } from "../../src/store/db.ts";
import { getInvocation, type NewSpan, type NewUsage } from "../../src/store/records.ts";
import { buildUpsert, upsertRecords, upsertSpans } from "../../src/store/upsert.ts";
import { BACKENDS, newInvocation, removeTempDirs, type TestDatabase } from "./helpers.ts";

afterAll(removeTempDirs);
setDefaultTimeout(60_000);

/** Text that a hand-rolled quoting of SQL or JSON would get wrong. */
const AWKWARD = `it's "quoted" \\ back\\slash, $1 and $$ dollars, ünïcødé ✓ 🚀\nnew line\ttab`;

function spanOf(invocationId: string, spanId: string, startNs: bigint, attributes?: Record<string, unknown>) {
  const row: NewSpan = {
    spanId,
    traceId: "a".repeat(32),
    invocationId,
    name: "spawn",
    startNs,
    endNs: startNs + 5n,
  };
  if (attributes) row.attributes = attributes;
  return row;
}

function usageOf(invocationId: string, extra: Partial<NewUsage> = {}): NewUsage {
  return {
    invocationId,
    cpuUserMs: 3,
    cpuSystemMs: 1,
    memoryPeakBytes: 2 ** 40,
    maxRssBytes: 4096,
    pidsPeak: 2,
    ...extra,
  };
}

test("a column kind the JSON form cannot carry fails when the statement is built; the ones it re-encodes are listed", () => {
  const bytea = customType<{ data: Uint8Array }>({ dataType: () => "bytea" });
  const blobs = pgTable("blobs", { id: text("id").primaryKey(), data: bytea("data") });
  expect(() => buildUpsert({ table: blobs, name: "blobs", key: "id", keep: "replace" })).toThrow(
    /bytea|Custom/,
  );
  const mixed = pgTable("mixed", {
    id: text("id").primaryKey(),
    n: bigint("n", { mode: "bigint" }),
    small: bigint("small", { mode: "number" }),
    doc: jsonb("doc"),
    at: timestamp("at", { withTimezone: true, mode: "date" }),
  });
  expect(buildUpsert({ table: mixed, name: "mixed", key: "id", keep: "replace" }).encoded).toEqual([
    { prop: "n", as: "bigint" },
    { prop: "doc", as: "jsonb" },
    { prop: "at", as: "date" },
  ]);
});

for (const backend of BACKENDS) {
  describe(`JSON upserts on ${backend.name}`, () => {
    let t: TestDatabase;
    const db = () => t.database.db;
    beforeAll(async () => {
      t = await backend.open();
    });
    afterAll(async () => {
      await t?.dispose();
    });

    test("the handle from openDatabase runs statements on the driver; a transaction goes through drizzle", async () => {
      expect(statementRunner(db())).toBeDefined();
      await db().transaction(async (tx) => {
        expect(statementRunner(tx)).toBeUndefined();
      });
    });

    test("every column kind round-trips exactly through one batch", async () => {
      const queuedAt = new Date(1_700_000_000_123);
      const row = newInvocation({
        queuedAt,
        startedAt: new Date(queuedAt.getTime() + 1),
        finishedAt: new Date(queuedAt.getTime() + 2),
        state: "failed",
        reason: "signaled",
        exitCode: -1,
        signal: 9,
        warm: false,
        traceId: "b".repeat(32),
        stdoutBytes: 2 ** 50,
        stderrTail: AWKWARD,
        idempotencyKey: AWKWARD,
        attempt: 3,
        error: AWKWARD,
        request: { body: AWKWARD, nested: [1, null, { deep: true }] },
      });
      const bigStart = 2n ** 62n + 7n;
      await upsertRecords(db(), {
        invocations: [row],
        usage: [usageOf(row.id, { samples: [{ t: 1, rss: 2 }], swapBytes: 0 })],
        spans: [spanOf(row.id, "0000000000000001", bigStart, { "bunker.stage": AWKWARD, n: 1.5, ok: false })],
      });
      const got = await getInvocation(db(), row.id);
      expect(got).toMatchObject({
        ...row,
        stdoutTail: null,
        node: null,
      });
      expect(got?.usage).toMatchObject({
        memoryPeakBytes: 2 ** 40,
        samples: [{ t: 1, rss: 2 }],
        swapBytes: 0,
        rssBytes: null,
      });
      expect(got?.spans[0]?.startNs).toBe(bigStart);
      expect(got?.spans[0]?.endNs).toBe(bigStart + 5n);
      expect(got?.spans[0]?.attributes).toEqual({ "bunker.stage": AWKWARD, n: 1.5, ok: false });
      expect(got?.spans[0]?.parentSpanId).toBeNull();
    });

    test("a jsonb value that is a bare string, number or null array element stays exactly that", async () => {
      const rows = [AWKWARD, 42, [null, "x"], null].map((request) => newInvocation({ request }));
      await upsertRecords(db(), { invocations: rows, usage: [], spans: [] });
      for (const row of rows) expect((await getInvocation(db(), row.id))?.request).toEqual(row.request);
    });

    test("a column with a default takes it when the row leaves it out", async () => {
      const row = newInvocation();
      await upsertRecords(db(), { invocations: [row], usage: [], spans: [] });
      expect((await getInvocation(db(), row.id))?.attempt).toBe(1);
    });

    test("running and final rows, usage and spans of one invocation land in one statement; a replay changes nothing", async () => {
      const row = newInvocation({ request: { body: "kept" } });
      const final = {
        ...row,
        request: undefined,
        state: "succeeded" as const,
        exitCode: 0,
        finishedAt: new Date(),
      };
      const batch = {
        // Usage references the invocation that the same statement inserts.
        invocations: [row, final],
        usage: [usageOf(row.id)],
        spans: [spanOf(row.id, "00000000000000a1", 1n), spanOf(row.id, "00000000000000a2", 2n)],
      };
      await upsertRecords(db(), batch);
      await upsertRecords(db(), batch);
      // A stale running row replayed alone after the final one is a no-op.
      await upsertRecords(db(), { invocations: [row], usage: [], spans: [] });
      const got = await getInvocation(db(), row.id);
      expect(got?.state).toBe("succeeded");
      expect(got?.request).toEqual({ body: "kept" });
      expect(got?.usage?.cpuUserMs).toBe(3);
      expect(got?.spans.map((s) => s.spanId)).toEqual(["00000000000000a1", "00000000000000a2"]);
    });

    test("the same rows written twice in one batch are merged, not refused", async () => {
      const row = newInvocation();
      const span = spanOf(row.id, "00000000000000b1", 10n);
      await upsertRecords(db(), {
        invocations: [row, row],
        usage: [usageOf(row.id, { cpuUserMs: 1 }), usageOf(row.id, { cpuUserMs: 2 })],
        spans: [span, { ...span, name: "run" }],
      });
      const got = await getInvocation(db(), row.id);
      expect(got?.usage?.cpuUserMs).toBe(2);
      expect(got?.spans.map((s) => s.name)).toEqual(["run"]);
    });

    test("inside a transaction the statements take part in it", async () => {
      const row = newInvocation();
      await upsertRecords(db(), { invocations: [row], usage: [], spans: [] });
      await db()
        .transaction(async (tx) => {
          await upsertRecords(tx, { invocations: [], usage: [usageOf(row.id)], spans: [] });
          await upsertSpans(tx, [spanOf(row.id, "00000000000000c1", 1n)]);
          throw new Error("roll back");
        })
        .catch(() => {});
      const got = await getInvocation(db(), row.id);
      expect(got?.usage).toBeNull();
      expect(got?.spans).toEqual([]);
    });

    test("a row the database refuses fails the whole batch with its SQLSTATE", async () => {
      const good = newInvocation();
      const bad = newInvocation({ state: "bogus" as "running" });
      const err = await upsertRecords(db(), { invocations: [good, bad], usage: [], spans: [] }).catch(
        (e: unknown) => e,
      );
      expect((err as { code?: string }).code).toBe("23514"); // check_violation
      expect(await getInvocation(db(), good.id)).toBeNull();
    });
  });
}
