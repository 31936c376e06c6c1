import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { openDatabase } from "../../src/store/db.ts";
import {
  canTransition,
  findByIdempotencyKey,
  finishInvocation,
  getInvocation,
  insertInvocation,
  listInvocations,
  markLost,
  outcomeFields,
  updateInvocation,
  usageRow,
} from "../../src/store/records.ts";
import {
  BACKENDS,
  createScratchDatabase,
  newInvocation,
  removeTempDirs,
  type TestDatabase,
  tempDir,
} from "./helpers.ts";

afterAll(removeTempDirs);
setDefaultTimeout(60_000);

// schedule_runs belongs to the schedule issue (issue 7), in the same schema.
const EXPECTED_TABLES = ["functions", "invocations", "jobs", "schedule_runs", "spans", "usage"];

function journalEntries(): number {
  const journal = JSON.parse(
    readFileSync(join(import.meta.dir, "../../db/migrations/meta/_journal.json"), "utf8"),
  );
  return (journal as { entries: unknown[] }).entries.length;
}

for (const backend of BACKENDS) {
  describe(`records on ${backend.name}`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await backend.open();
    });
    afterAll(async () => {
      await t?.dispose();
    });
    const db = () => t.database.db;

    test("migrations create every table from an empty database, once", async () => {
      const tables = await db().execute<{ table_name: string; table_type: string }>(
        sql`select table_name, table_type from information_schema.tables where table_schema = 'public' order by 1`,
      );
      const listed = rows<{ table_name: string; table_type: string }>(tables);
      expect(listed.filter((r) => r.table_type === "BASE TABLE").map((r) => r.table_name)).toEqual(
        EXPECTED_TABLES,
      );
      expect(listed.filter((r) => r.table_type === "VIEW").map((r) => r.table_name)).toEqual(["span_rows"]);
      const applied = await db().execute<{ n: number }>(
        sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
      );
      expect(rows<{ n: number }>(applied)[0]?.n).toBe(journalEntries());
    });

    test("insert, get with usage and spans, finish", async () => {
      const row = newInvocation({ traceId: "t1", request: { body: "x" } });
      const { created, invocation } = await insertInvocation(db(), row);
      expect(created).toBe(true);
      expect(invocation.state).toBe("running");
      expect(invocation.attempt).toBe(1);

      const outcome = {
        reason: "exited" as const,
        exitCode: 0,
        signal: null,
        wallMs: 12,
        usage: { cpuUserMs: 3.4, cpuSystemMs: 1, memoryPeakBytes: 1 << 20, pidsPeak: 2, maxRssBytes: 4096 },
      };
      const finishedAt = new Date();
      const bigStart = 1_700_000_000_123_456_789n;
      await finishInvocation(
        db(),
        { ...row, ...outcomeFields(outcome), finishedAt, stdoutTail: "hi\n", stdoutBytes: 3 },
        usageRow(row.id, outcome.usage, { swapBytes: 0 }),
        [
          {
            spanId: `${row.id}-b`,
            traceId: "t1",
            invocationId: row.id,
            name: "exec",
            startNs: bigStart + 10n,
            endNs: bigStart + 20n,
          },
          {
            spanId: `${row.id}-a`,
            traceId: "t1",
            invocationId: row.id,
            name: "invoke",
            startNs: bigStart,
            endNs: bigStart + 30n,
            attributes: { k: 1 },
            // Stages kept in this row: one with the attributes every stage has, one with its own.
            stages: [
              { i: `${row.id}-s1`, n: "admit", s: String(bigStart + 1n), e: String(bigStart + 2n) },
              {
                i: `${row.id}-s2`,
                n: "custom",
                s: String(bigStart + 15n),
                e: String(bigStart + 16n),
                a: { x: "y" },
              },
            ],
          },
        ],
      );
      const got = await getInvocation(db(), row.id);
      expect(got?.state).toBe("succeeded");
      expect(got?.reason).toBe("exited");
      expect(got?.finishedAt?.getTime()).toBe(finishedAt.getTime());
      expect(got?.request).toEqual({ body: "x" }); // not erased by a record that omits it
      expect(got?.usage?.cpuUserMs).toBe(3);
      expect(got?.usage?.rssBytes).toBeNull();
      expect(got?.usage?.swapBytes).toBe(0);
      expect(got?.spans.map((s) => s.name)).toEqual(["invoke", "admit", "exec", "custom"]);
      expect(got?.spans[0]?.startNs).toBe(bigStart); // exact nanoseconds past 2^53
      // Stages come back as spans of their own, under the row that held them.
      expect(got?.spans[1]).toEqual({
        spanId: `${row.id}-s1`,
        traceId: "t1",
        parentSpanId: `${row.id}-a`,
        invocationId: row.id,
        name: "admit",
        startNs: bigStart + 1n,
        endNs: bigStart + 2n,
        attributes: { "bunker.stage": "admit", "faas.invocation_id": row.id },
      });
      expect(got?.spans[3]?.attributes).toEqual({ x: "y" });
      expect(await getInvocation(db(), "no-such-id")).toBeNull();
    });

    test("state transitions: allowed ones apply, finished rows stay finished", async () => {
      const row = newInvocation({ state: "queued", trigger: "cli" });
      await insertInvocation(db(), row);
      const running = await updateInvocation(db(), row.id, { state: "running", startedAt: new Date() });
      expect(running?.state).toBe("running");
      const failed = await updateInvocation(db(), row.id, { state: "failed", exitCode: 1, reason: "exited" });
      expect(failed?.exitCode).toBe(1);
      expect(await updateInvocation(db(), row.id, { state: "running" })).toBeNull();
      expect((await getInvocation(db(), row.id))?.state).toBe("failed");
      expect(canTransition("succeeded", "running")).toBe(false);
      expect(canTransition("running", "queued")).toBe(true);
    });

    test("idempotency key: second insert returns the first invocation", async () => {
      const fn = `idem-${Bun.randomUUIDv7()}`;
      const first = newInvocation({ function: fn, idempotencyKey: "k1" });
      const second = newInvocation({ function: fn, idempotencyKey: "k1" });
      expect((await insertInvocation(db(), first)).created).toBe(true);
      const again = await insertInvocation(db(), second);
      expect(again.created).toBe(false);
      expect(again.invocation.id).toBe(first.id);
      expect((await findByIdempotencyKey(db(), fn, "k1"))?.id).toBe(first.id);
      expect(await findByIdempotencyKey(db(), fn, "k2")).toBeNull();
      // Same key, other function: independent.
      const other = await insertInvocation(
        db(),
        newInvocation({ function: `${fn}-b`, idempotencyKey: "k1" }),
      );
      expect(other.created).toBe(true);
    });

    test("list filters by function and state, newest first, pages by cursor", async () => {
      const fn = `list-${Bun.randomUUIDv7()}`;
      const base = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        // Pairs share a timestamp so the cursor's id tie-break is exercised.
        const row = newInvocation({
          function: fn,
          queuedAt: new Date(base + Math.floor(i / 2)),
          state: i % 3 === 0 ? "succeeded" : "running",
        });
        ids.push(row.id);
        await insertInvocation(db(), row);
      }
      const all = await listInvocations(db(), { function: fn, limit: 100 });
      expect(all.map((r) => r.id)).toEqual([...ids].reverse());
      const done = await listInvocations(db(), { function: fn, state: "succeeded", limit: 100 });
      expect(done.map((r) => r.id).sort()).toEqual([ids[0], ids[3], ids[6]].sort() as string[]);

      const paged: string[] = [];
      let page = await listInvocations(db(), { function: fn, limit: 3 });
      while (page.length > 0) {
        paged.push(...page.map((r) => r.id));
        const last = page[page.length - 1]!;
        page = await listInvocations(db(), {
          function: fn,
          limit: 3,
          before: { queuedAt: last.queuedAt, id: last.id },
        });
      }
      expect(paged).toEqual(all.map((r) => r.id));
      const older = await listInvocations(db(), { function: fn, limit: 100, before: new Date(base + 1) });
      expect(older.map((r) => r.id).sort()).toEqual([ids[0], ids[1]].sort() as string[]);
    });

    test("markLost: only this node's unfinished sync invocations from before start-up", async () => {
      const node = `node-${Bun.randomUUIDv7()}`;
      const past = new Date(Date.now() - 60_000);
      const startedUp = new Date(Date.now() - 1_000);
      const rowsIn = {
        httpRunning: newInvocation({ node, queuedAt: past, trigger: "http", state: "running" }),
        cliQueued: newInvocation({ node, queuedAt: past, trigger: "cli", state: "queued" }),
        cronRunning: newInvocation({ node, queuedAt: past, trigger: "cron", state: "running" }),
        asyncRunning: newInvocation({ node, queuedAt: past, trigger: "async", state: "running" }),
        hasFinishedAt: newInvocation({ node, queuedAt: past, state: "running", finishedAt: past }),
        succeeded: newInvocation({ node, queuedAt: past, state: "succeeded", finishedAt: past }),
        otherNode: newInvocation({ node: `${node}-other`, queuedAt: past, state: "running" }),
        afterStart: newInvocation({ node, queuedAt: new Date(), state: "running" }),
      };
      for (const row of Object.values(rowsIn)) await insertInvocation(db(), row);
      const lost = await markLost(db(), { node, queuedBefore: startedUp });
      expect(lost.sort()).toEqual([rowsIn.httpRunning.id, rowsIn.cliQueued.id, rowsIn.cronRunning.id].sort());
      const states = Object.fromEntries(
        await Promise.all(
          Object.entries(rowsIn).map(
            async ([k, r]) => [k, (await getInvocation(db(), r.id))?.state] as const,
          ),
        ),
      );
      expect(states).toEqual({
        httpRunning: "lost",
        cliQueued: "lost",
        cronRunning: "lost",
        asyncRunning: "running",
        hasFinishedAt: "running",
        succeeded: "succeeded",
        otherNode: "running",
        afterStart: "running",
      });
      const lostRow = await getInvocation(db(), rowsIn.httpRunning.id);
      expect(lostRow?.reason).toBe("lost");
      expect(lostRow?.finishedAt).toBeInstanceOf(Date);
      // Running it again finds nothing new.
      expect(await markLost(db(), { node, queuedBefore: startedUp })).toEqual([]);
    });

    test("a bad row is rejected with a store error", async () => {
      const bad = newInvocation({ state: "bogus" as "running" });
      await expect(insertInvocation(db(), bad)).rejects.toMatchObject({ code: "store", name: "StoreError" });
    });
  });
}

describe("migrations", () => {
  test("servers starting together on an empty database migrate it once", async () => {
    const scratch = await createScratchDatabase();
    const dirs = [tempDir("m1"), tempDir("m2"), tempDir("m3")];
    try {
      const opened = await Promise.all(dirs.map((dataDir) => openDatabase({ url: scratch.url, dataDir })));
      const first = opened[0]!;
      const applied = await first.db.execute<{ n: number }>(
        sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
      );
      expect(rows<{ n: number }>(applied)[0]?.n).toBe(journalEntries());
      await Promise.all(opened.map((d) => d.close()));
    } finally {
      await scratch.drop();
    }
  });

  test("PGlite data persists across reopen and migrations are not re-applied", async () => {
    const dataDir = tempDir("reopen");
    const a = await openDatabase({ dataDir });
    const row = newInvocation();
    await insertInvocation(a.db, row);
    await a.close();
    const b = await openDatabase({ dataDir });
    try {
      expect((await getInvocation(b.db, row.id))?.id).toBe(row.id);
      const applied = await b.db.execute<{ n: number }>(
        sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
      );
      expect(rows<{ n: number }>(applied)[0]?.n).toBe(journalEntries());
    } finally {
      await b.close();
    }
  });
});

/** postgres.js returns an array, PGlite an object with `rows`. */
function rows<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return (result as { rows: T[] }).rows;
}
