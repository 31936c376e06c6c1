/**
 * The writer across a real Postgres outage. Runs on a throwaway server
 * (initdb in a temp dir, own port) because it stops and starts it; the shared
 * server on 5432 is never touched.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { inArray, sql } from "drizzle-orm";
import { invocations, spans } from "../../db/schema.ts";
import { type Database, openDatabase } from "../../src/store/db.ts";
import type { NewInvocation } from "../../src/store/records.ts";
import { RecordWriter } from "../../src/store/writer.ts";
import {
  newInvocation,
  removeTempDirs,
  startThrowawayPostgres,
  type ThrowawayServer,
  tempDir,
  waitFor,
} from "./helpers.ts";

afterAll(removeTempDirs);
setDefaultTimeout(120_000);

let server: ThrowawayServer;
let database: Database;
let dataDir: string;

beforeAll(async () => {
  server = await startThrowawayPostgres();
  dataDir = tempDir("outage");
  database = await openDatabase({ url: server.url, dataDir, maxConnections: 4 });
});

afterAll(async () => {
  await database?.close();
  await server?.remove();
});

function pendingJournalFiles(): string[] {
  try {
    return readdirSync(join(dataDir, "journal")).filter((n) => n.endsWith(".ndjson"));
  } catch {
    return [];
  }
}

async function storedIds(ids: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += 5_000) {
    const rows = await database.db
      .select({ id: invocations.id })
      .from(invocations)
      .where(inArray(invocations.id, ids.slice(i, i + 5_000)));
    for (const r of rows) found.add(r.id);
  }
  return found;
}

/** Flushes until nothing is held locally; each flush retries the database once. */
async function drainCompletely(writer: RecordWriter): Promise<void> {
  await waitFor("the writer to drain", async () => {
    const c = await writer.flush();
    return c.buffered === 0 && c.journaled === 0;
  });
}

test("records written while Postgres is down spill to the journal and all land after restart", async () => {
  const errors: string[] = [];
  const writer = new RecordWriter({
    db: database.db,
    dataDir,
    batchSize: 50,
    flushIntervalMs: 10,
    spillAfterMs: 100,
    maxRetryMs: 100,
    onError: (e) => errors.push(e.message),
  });
  const rows: NewInvocation[] = [];
  const write = (chunk: number) => {
    for (let i = 0; i < 10; i++) {
      const row = newInvocation({
        function: "outage",
        state: "succeeded",
        finishedAt: new Date(),
        attempt: chunk,
      });
      rows.push(row);
      writer.finish(row, null, [
        {
          spanId: `${row.id}-s`,
          traceId: row.id,
          invocationId: row.id,
          name: "exec",
          startNs: 1n,
          endNs: 2n,
        },
      ]);
    }
  };

  // One run of 100 chunks; the server goes away a third of the way in and comes back later.
  let sawSpill = false;
  for (let chunk = 0; chunk < 100; chunk++) {
    write(chunk);
    await Bun.sleep(2);
    if (chunk === 30) await server.stop();
    if (chunk === 50) {
      await waitFor("records to spill to the journal", () => writer.counters.spilled > 0);
      sawSpill = pendingJournalFiles().length > 0;
    }
    if (chunk === 70) await server.start();
  }
  await drainCompletely(writer);
  const counters = await writer.close();

  expect(sawSpill).toBe(true);
  expect(counters.failures).toBeGreaterThan(0);
  expect(errors.some((m) => m.includes("unreachable"))).toBe(true);
  expect(counters).toMatchObject({ buffered: 0, journaled: 0, rejected: 0, dropped: 0 });
  expect(pendingJournalFiles()).toEqual([]);

  const ids = rows.map((r) => r.id);
  expect(new Set(ids).size).toBe(1_000);
  expect(await storedIds(ids)).toEqual(new Set(ids));
  // Nothing else landed: exactly one row per id, one span per invocation.
  const [inv] = await database.db.select({ n: sql<number>`count(*)::int` }).from(invocations);
  const [sp] = await database.db.select({ n: sql<number>`count(*)::int` }).from(spans);
  expect(inv?.n).toBe(1_000);
  expect(sp?.n).toBe(1_000);
});

test("a writer closed during an outage leaves a journal the next process replays", async () => {
  const writer = new RecordWriter({ db: database.db, dataDir, spillAfterMs: 60_000, maxRetryMs: 100 });
  await server.stop();
  const rows = Array.from({ length: 120 }, () => newInvocation({ function: "restart" }));
  for (const row of rows) writer.invocation(row);
  // close() cannot reach the database, so it must make the buffer durable instead.
  const closed = await writer.close();
  expect(closed.buffered).toBe(0);
  expect(closed.journaled).toBe(120);
  expect(pendingJournalFiles().length).toBeGreaterThan(0);

  await server.start();
  const next = new RecordWriter({ db: database.db, dataDir, maxRetryMs: 100 });
  await drainCompletely(next);
  await next.close();
  expect(pendingJournalFiles()).toEqual([]);
  const ids = rows.map((r) => r.id);
  expect(await storedIds(ids)).toEqual(new Set(ids));
});
