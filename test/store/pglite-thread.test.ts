/**
 * The embedded database on its own thread (src/store/pglite-thread.ts,
 * pglite-worker.ts) and its prepared-statement path (pglite-statements.ts):
 * drizzle's transactions keep their meaning across the thread, errors keep
 * their SQLSTATE, and the hand-written Bind message is the one the protocol
 * library would have written.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { protocol } from "@electric-sql/pglite";
import { eq, sql } from "drizzle-orm";
import { invocations } from "../../db/schema.ts";
import { statementRunner } from "../../src/store/db.ts";
import { sqlState } from "../../src/store/errors.ts";
import { bindExecuteSync } from "../../src/store/pglite-statements.ts";
import { PgliteThread } from "../../src/store/pglite-thread.ts";
import { insertInvocation } from "../../src/store/records.ts";
import { BACKENDS, newInvocation, removeTempDirs, type TestDatabase, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);
setDefaultTimeout(60_000);

test("bindExecuteSync writes what the protocol library writes", () => {
  const params = ["plain", null, "ünïcødé € 🚀\n\t'\"", ""];
  const expected = [
    protocol.serialize.bind({ statement: "bunker_7", values: params }),
    protocol.serialize.execute(),
    protocol.serialize.sync(),
  ];
  const want = new Uint8Array(expected.reduce((n, m) => n + m.length, 0));
  let at = 0;
  for (const m of expected) {
    want.set(m, at);
    at += m.length;
  }
  expect(bindExecuteSync("bunker_7", params)).toEqual(want);
  expect(() => bindExecuteSync("s", [42])).toThrow("$1 must be a string or null");
});

const pglite = BACKENDS.find((b) => b.name === "pglite");
if (!pglite) throw new Error("no pglite backend");

describe("PGlite on its own thread", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await pglite.open();
  });
  afterAll(() => t.dispose());

  test("a transaction whose callback throws leaves nothing; one that returns commits", async () => {
    const { db } = t.database;
    const lost = newInvocation();
    const kept = newInvocation();
    await expect(
      db.transaction(async (tx) => {
        await insertInvocation(tx, lost);
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    await db.transaction((tx) => insertInvocation(tx, kept));
    const ids = (await db.select({ id: invocations.id }).from(invocations)).map((r) => r.id);
    expect(ids).toContain(kept.id);
    expect(ids).not.toContain(lost.id);
  });

  test("a query from outside waits for an open transaction instead of landing in it", async () => {
    const { db } = t.database;
    const row = newInvocation();
    let outside: Promise<unknown> | undefined;
    await expect(
      db.transaction(async (tx) => {
        await insertInvocation(tx, row);
        outside = db.update(invocations).set({ error: "outside" }).where(eq(invocations.id, row.id));
        await Bun.sleep(30);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    await outside;
    // Had the update joined the transaction it would have been rolled back with it; run after, it found no row.
    const found = await db.select().from(invocations).where(eq(invocations.id, row.id));
    expect(found).toEqual([]);
  });

  test("errors cross the thread with their SQLSTATE", async () => {
    const { db } = t.database;
    const row = newInvocation();
    await insertInvocation(db, row);
    const err = await db
      .insert(invocations)
      .values(row)
      .catch((e: unknown) => e);
    expect(sqlState(err)).toBe("23505");
    const bad = await db.execute(sql`select nothing from nowhere`).catch((e: unknown) => e);
    expect(sqlState(bad)).toBe("42P01");
  });

  test("a prepared statement runs again and again; one that cannot parse fails every time", async () => {
    const run = statementRunner(t.database.db);
    if (!run) throw new Error("no statement runner");
    const ids = [newInvocation(), newInvocation()];
    for (const row of ids) {
      await run(
        `insert into invocations (id, function, trigger, state, queued_at) values ($1, 'f', 'http', 'queued', now())`,
        [row.id],
      );
    }
    const stored = await t.database.db.select({ id: invocations.id }).from(invocations);
    expect(stored.map((r) => r.id)).toEqual(expect.arrayContaining(ids.map((r) => r.id)));
    for (let i = 0; i < 2; i++) {
      const err = await run("selec 1", []).catch((e: unknown) => e);
      expect(sqlState(err)).toBe("42601");
    }
  });

  test("a parser that does more than keep text is refused, not silently dropped", async () => {
    const thread = await PgliteThread.open(tempDir("pglite-parsers"));
    try {
      await expect(
        thread.query("select now()", [], { parsers: { 1184: (v: string) => new Date(v) } }),
      ).rejects.toThrow("cannot run on the database thread");
      const kept = await thread.query<{ t: string }>(
        "select '2001-02-03 04:05:06+00'::timestamptz as t",
        [],
        {
          parsers: { 1184: (v: string) => v },
        },
      );
      expect(typeof kept.rows[0]?.t).toBe("string");
    } finally {
      await thread.close();
    }
    await expect(thread.query("select 1")).rejects.toThrow("closed");
  });
});
