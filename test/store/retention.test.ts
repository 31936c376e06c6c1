/** Retention: batched deletes of finished records older than the cut-off, on both drivers. */
import { afterAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { invocations, spans, usage } from "../../db/schema.ts";
import { applyRetention, parseAge } from "../../src/store/retention.ts";
import { BACKENDS, newInvocation, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

const DAY = 86_400_000;

for (const backend of BACKENDS) {
  describe(`retention on ${backend.name}`, () => {
    test("removes old finished records in batches, keeps recent and unfinished ones", async () => {
      const t = await backend.open();
      try {
        const { db } = t.database;
        const now = new Date();
        const old = new Date(now.getTime() - 10 * DAY);
        const oldDone = Array.from({ length: 7 }, () =>
          newInvocation({ state: "succeeded", queuedAt: old, finishedAt: old }),
        );
        const oldRunning = newInvocation({ state: "running", queuedAt: old });
        const recent = newInvocation({ state: "succeeded", queuedAt: now, finishedAt: now });
        await db.insert(invocations).values([...oldDone, oldRunning, recent]);
        const first = oldDone[0];
        if (!first) throw new Error("no rows");
        await db.insert(usage).values({
          invocationId: first.id,
          cpuUserMs: 1,
          cpuSystemMs: 1,
          memoryPeakBytes: 1,
          maxRssBytes: 1,
          pidsPeak: 1,
        });
        const ns = (d: Date) => BigInt(d.getTime()) * 1_000_000n;
        await db.insert(spans).values([
          {
            spanId: `old-${first.id}`,
            traceId: "t",
            name: "x",
            startNs: ns(old),
            endNs: ns(old),
            invocationId: first.id,
          },
          {
            spanId: `new-${recent.id}`,
            traceId: "t",
            name: "x",
            startNs: ns(now),
            endNs: ns(now),
            invocationId: recent.id,
          },
        ]);

        const result = await applyRetention(db, { maxAgeMs: parseAge("7d"), batchSize: 3, now });
        expect(result.invocations).toBe(7);
        expect(result.spans).toBe(1);
        // 7 rows in batches of 3 take three statements (3, 3, 1), plus one for spans.
        expect(result.batches).toBe(4);
        const left = (await db.select({ id: invocations.id }).from(invocations)).map((r) => r.id).sort();
        expect(left).toEqual([oldRunning.id, recent.id].sort());
        expect(await db.select().from(usage).where(eq(usage.invocationId, first.id))).toEqual([]);
        expect((await db.select().from(spans)).map((s) => s.spanId)).toEqual([`new-${recent.id}`]);
      } finally {
        await t.dispose();
      }
    }, 30_000);
  });
}

test("parseAge reads the documented forms", () => {
  expect(parseAge("30d")).toBe(30 * DAY);
  expect(parseAge("12h")).toBe(12 * 3_600_000);
  expect(parseAge("90m")).toBe(90 * 60_000);
  expect(parseAge("1500")).toBe(1500);
  expect(() => parseAge("soon")).toThrow("not a duration");
});
