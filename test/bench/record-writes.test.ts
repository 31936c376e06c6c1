/**
 * bench/record-writes.ts runs from a clean clone on both stores, refuses bad
 * arguments with one line, and leaves nothing behind in a shared database.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { SHARED_POSTGRES } from "../store/helpers.ts";

setDefaultTimeout(120_000);
const SCRIPT = join(import.meta.dir, "..", "..", "bench", "record-writes.ts");

function run(args: string[], env: Record<string, string | undefined>) {
  const { DATABASE_URL: _, ...rest } = process.env;
  const p = Bun.spawnSync([process.execPath, SCRIPT, ...args], { env: { ...rest, ...env } });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

test("a bad --batch is refused with one line and exit code 2", () => {
  const r = run(["--batch", "0"], {});
  expect(r.code).toBe(2);
  expect(r.err.trim().split("\n")).toEqual([
    "bench/record-writes.ts: --batches and --batch must be positive whole numbers",
  ]);
});

test("on PGlite it reports the database's and the event loop's CPU per invocation", () => {
  const r = run(["--batches", "4", "--batch", "5"], {});
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  // The four warm-up batches are stored too.
  expect(r.out).toMatch(
    /^pglite: 20 invocations in batches of 5, per invocation: database [\d.]+ us CPU, event loop [\d.]+ us CPU, [\d.]+ us wall\nstored: 40 of 40 invocations, 40 spans\n$/,
  );
});

test("on Postgres it writes real rows and deletes its own afterwards", async () => {
  const sql = postgres(SHARED_POSTGRES, { max: 1, onnotice: () => {} });
  try {
    const r = run(["--batches", "4", "--batch", "5"], { DATABASE_URL: SHARED_POSTGRES });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^postgres: 20 invocations in batches of 5, per invocation: database [\d.]+ us CPU/,
    );
    expect(r.out).toContain("stored: 40 of 40 invocations, 40 spans\n");
    const [left] = await sql`select count(*)::int as n from invocations where node like 'bench-writes-%'`;
    const [spans] = await sql`select count(*)::int as n from spans where invocation_id like 'bench-writes-%'`;
    expect({ invocations: left?.n, spans: spans?.n }).toEqual({ invocations: 0, spans: 0 });
  } finally {
    await sql.end();
  }
});
