import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { eq, inArray, sql } from "drizzle-orm";
import { invocations, spans, usage } from "../../db/schema.ts";
import { decodeEntry, encodeEntry, Journal, type WriteEntry } from "../../src/store/journal.ts";
import { getInvocation } from "../../src/store/records.ts";
import { RecordWriter } from "../../src/store/writer.ts";
import { BACKENDS, newInvocation, removeTempDirs, type TestDatabase, tempDir, waitFor } from "./helpers.ts";

afterAll(removeTempDirs);
setDefaultTimeout(60_000);

test("journal lines round-trip dates and nanosecond bigints without guessing from shapes", () => {
  const row = newInvocation({
    finishedAt: new Date(1_700_000_000_123),
    request: { $date: "not a date", n: 1 },
  });
  const span: WriteEntry = {
    kind: "span",
    row: { spanId: "s", traceId: "t", name: "n", startNs: 2n ** 62n + 1n, endNs: 2n ** 62n + 9n },
  };
  const back = decodeEntry(encodeEntry({ kind: "invocation", row }));
  expect(back).toEqual({ kind: "invocation", row });
  expect(decodeEntry(encodeEntry(span))).toEqual(span);
  expect(decodeEntry('{"kind":"invocation","row":{"id":"x"')).toBeUndefined(); // torn last line
});

for (const backend of BACKENDS) {
  describe(`RecordWriter on ${backend.name}`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await backend.open();
    });
    afterAll(async () => {
      await t?.dispose();
    });

    test("2,000 records from 40 concurrent producers land exactly once", async () => {
      const writer = new RecordWriter({
        db: t.database.db,
        dataDir: t.dataDir,
        batchSize: 128,
        flushIntervalMs: 5,
      });
      const fn = `conc-${Bun.randomUUIDv7()}`;
      const ids: string[] = [];
      const producer = async (p: number) => {
        for (let i = 0; i < 50; i++) {
          const row = newInvocation({ function: fn, queuedAt: new Date(), attempt: p });
          ids.push(row.id);
          // Running first, then the final record with usage and a span: later writes refine earlier ones.
          writer.invocation(row);
          if (i % 7 === 0) await Bun.sleep(0);
          writer.finish(
            { ...row, state: "succeeded", reason: "exited", exitCode: 0, finishedAt: new Date() },
            {
              invocationId: row.id,
              cpuUserMs: i,
              cpuSystemMs: 0,
              memoryPeakBytes: 0,
              maxRssBytes: 0,
              pidsPeak: 1,
            },
            [
              {
                spanId: `${row.id}-s`,
                traceId: row.id,
                invocationId: row.id,
                name: "exec",
                startNs: 1n,
                endNs: 2n,
              },
            ],
          );
        }
      };
      await Promise.all(Array.from({ length: 40 }, (_, p) => producer(p)));
      const counters = await writer.close();
      expect(counters).toMatchObject({
        buffered: 0,
        journaled: 0,
        spilled: 0,
        rejected: 0,
        dropped: 0,
        failures: 0,
      });
      expect(counters.written).toBe(2_000 * 4);

      const db = t.database.db;
      const stored = await db
        .select({ id: invocations.id, state: invocations.state })
        .from(invocations)
        .where(eq(invocations.function, fn));
      expect(stored.length).toBe(2_000);
      expect(new Set(stored.map((r) => r.id))).toEqual(new Set(ids));
      expect(stored.every((r) => r.state === "succeeded")).toBe(true);
      const [u] = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(usage)
        .where(inArray(usage.invocationId, ids));
      const [s] = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(spans)
        .where(inArray(spans.invocationId, ids));
      expect(u?.n).toBe(2_000);
      expect(s?.n).toBe(2_000);
    });

    test("a stale 'running' written after the final record does not undo it", async () => {
      const writer = new RecordWriter({ db: t.database.db, dataDir: t.dataDir });
      const row = newInvocation();
      writer.invocation({ ...row, state: "failed", reason: "oom", exitCode: 137, finishedAt: new Date() });
      await writer.flush();
      writer.invocation({ ...row, state: "running" });
      await writer.close();
      const got = await getInvocation(t.database.db, row.id);
      expect(got?.state).toBe("failed");
      expect(got?.reason).toBe("oom");
    });

    test("a partial batch written during a drain waits for the next tick, not a round trip of its own", async () => {
      // The timer never fires here: only a full batch (the 4th write) or flush() starts a drain.
      const writer = new RecordWriter({
        db: t.database.db,
        dataDir: tempDir("batching"),
        batchSize: 4,
        flushIntervalMs: 600_000,
      });
      const rows = Array.from({ length: 7 }, () => newInvocation());
      for (const row of rows) writer.invocation(row);
      await waitFor("the full batch", () => writer.counters.written >= 4);
      await Bun.sleep(100);
      expect(writer.counters).toMatchObject({ written: 4, buffered: 3 });
      expect((await writer.close()).written).toBe(7);
      for (const row of rows) expect((await getInvocation(t.database.db, row.id))?.id).toBe(row.id);
    });

    test("a record the database refuses is set aside; the rest of its batch lands", async () => {
      const errors: string[] = [];
      const writer = new RecordWriter({
        db: t.database.db,
        dataDir: t.dataDir,
        onError: (e) => errors.push(e.message),
      });
      const good = Array.from({ length: 9 }, () => newInvocation());
      const bad = newInvocation({ state: "bogus" as "running" });
      for (const row of good.slice(0, 4)) writer.invocation(row);
      writer.invocation(bad);
      for (const row of good.slice(4)) writer.invocation(row);
      // Usage for an invocation that does not exist breaks the foreign key.
      writer.write({
        kind: "usage",
        row: {
          invocationId: "missing",
          cpuUserMs: 0,
          cpuSystemMs: 0,
          memoryPeakBytes: 0,
          maxRssBytes: 0,
          pidsPeak: 0,
        },
      });
      const counters = await writer.close();
      expect(counters.rejected).toBe(2);
      expect(counters.written).toBe(9);
      expect(errors.some((m) => m.includes("rejected"))).toBe(true);
      for (const row of good) expect((await getInvocation(t.database.db, row.id))?.id).toBe(row.id);
      expect(await getInvocation(t.database.db, bad.id)).toBeNull();
      const rejected = await new Journal(t.dataDir).read(
        join(t.dataDir, "journal", "rejected", "rejected.ndjson"),
      );
      expect(rejected.map((e) => e.kind).sort()).toEqual(["invocation", "usage"]);
    });

    test("a journal left by an earlier process is replayed on start, then removed", async () => {
      const dataDir = tempDir("leftover");
      const journal = new Journal(dataDir);
      const rows = Array.from({ length: 30 }, () =>
        newInvocation({ state: "succeeded", finishedAt: new Date() }),
      );
      await journal.spill(rows.slice(0, 20).map((row) => ({ kind: "invocation", row })));
      await journal.spill(rows.slice(10).map((row) => ({ kind: "invocation", row }))); // overlaps: replays twice
      const writer = new RecordWriter({ db: t.database.db, dataDir });
      const counters = await writer.close();
      expect(counters.journaled).toBe(0);
      expect(counters.written).toBe(40);
      expect(readdirSync(join(dataDir, "journal")).filter((n) => n.endsWith(".ndjson"))).toEqual([]);
      const stored = await t.database.db
        .select({ id: invocations.id })
        .from(invocations)
        .where(
          inArray(
            invocations.id,
            rows.map((r) => r.id),
          ),
        );
      expect(stored.length).toBe(30);
    });

    test("write() after close goes to the journal instead of being lost", async () => {
      const dataDir = tempDir("after-close");
      const writer = new RecordWriter({ db: t.database.db, dataDir });
      await writer.close();
      const row = newInvocation();
      expect(() => writer.invocation(row)).not.toThrow();
      await waitForSpill(writer);
      const next = new RecordWriter({ db: t.database.db, dataDir });
      await next.close();
      expect((await getInvocation(t.database.db, row.id))?.id).toBe(row.id);
    });
  });
}

async function waitForSpill(writer: RecordWriter): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (writer.counters.spilled === 0) {
    if (Date.now() > deadline) throw new Error("record was never journaled");
    await Bun.sleep(5);
  }
}
