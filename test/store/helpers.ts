/**
 * Test backends for the store: a PGlite database in a temp dir, a fresh
 * database on the shared local Postgres (created and dropped per suite, so
 * parallel runs never share tables), and a throwaway Postgres server for
 * tests that stop and start the server.
 */
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { type Database, openDatabase } from "../../src/store/db.ts";
import type { NewInvocation } from "../../src/store/records.ts";

export const SHARED_POSTGRES = process.env.BUNKER_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

export interface Backend {
  readonly name: "pglite" | "postgres";
  /** A new, empty, migrated database and its own data dir. */
  open(): Promise<TestDatabase>;
}

export interface TestDatabase {
  database: Database;
  dataDir: string;
  /** Set for Postgres backends: another client may open the same database. */
  url?: string;
  dispose(): Promise<void>;
}

const tempDirs: string[] = [];

/** A fresh directory under the OS temp dir, removed by removeTempDirs(). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `bunker-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** Call from afterAll in every file that uses tempDir. */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

const pglite: Backend = {
  name: "pglite",
  async open() {
    const dataDir = tempDir("pglite");
    const database = await openDatabase({ dataDir });
    return {
      database,
      dataDir,
      async dispose() {
        await database.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

const sharedPostgres: Backend = {
  name: "postgres",
  async open() {
    const { url, drop } = await createScratchDatabase();
    const dataDir = tempDir("pg");
    const database = await openDatabase({ url, dataDir });
    return {
      database,
      dataDir,
      url,
      async dispose() {
        await database.close();
        await drop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

export const BACKENDS: readonly Backend[] = [pglite, sharedPostgres];

let scratchSeq = 0;

/** `bunker_test_<pid>_<n>_<random>` on the shared server; drop() removes it even with open connections. */
export async function createScratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  scratchSeq += 1;
  const name = `bunker_test_${process.pid}_${scratchSeq}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(SHARED_POSTGRES, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(SHARED_POSTGRES);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const dropper = postgres(SHARED_POSTGRES, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** Polls until `ready()` is true; the timeout only bounds the wait, nothing asserts on time. */
export async function waitFor(what: string, ready: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

export function newInvocation(fields: Partial<NewInvocation> = {}): NewInvocation {
  return {
    id: Bun.randomUUIDv7(),
    function: "hello",
    trigger: "http",
    state: "running",
    queuedAt: new Date(),
    ...fields,
  };
}

// ---------------------------------------------------------------------------
// A throwaway Postgres server, for tests that stop it. Never the shared one.

export interface ThrowawayServer {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  remove(): Promise<void>;
}

const PG_BIN = `/usr/lib/postgresql/${pgVersion()}/bin`;

function pgVersion(): string {
  const out = Bun.spawnSync(["ls", "/usr/lib/postgresql"]).stdout.toString().trim().split("\n");
  const version = out.sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error("no Postgres installation under /usr/lib/postgresql");
  return version;
}

/** initdb refuses to run as root; as root, run the server tools as the postgres user. */
function asPostgres(argv: string[]): string[] {
  return process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--", ...argv] : argv;
}

async function run(argv: string[]): Promise<void> {
  const proc = Bun.spawn(asPostgres(argv), { stdout: "pipe", stderr: "pipe" });
  const code = await proc.exited;
  if (code !== 0) {
    const err = await new Response(proc.stderr).text();
    throw new Error(`${argv.join(" ")} exited ${code}: ${err.trim()}`);
  }
}

function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export async function startThrowawayPostgres(): Promise<ThrowawayServer> {
  // Not in the tempDirs list: remove() stops the server before deleting its directory.
  const dir = mkdtempSync(join(tmpdir(), "bunker-throwaway-pg-"));
  if (process.getuid?.() === 0) {
    const pwd = Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim();
    const grp = Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim();
    chownSync(dir, Number(pwd), Number(grp));
  }
  const data = join(dir, "data");
  const port = freePort();
  await run([`${PG_BIN}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = () =>
    run([`${PG_BIN}/pg_ctl`, "-D", data, "-o", options, "-l", join(dir, "log"), "-w", "start"]);
  const stop = () => run([`${PG_BIN}/pg_ctl`, "-D", data, "-m", "fast", "-w", "stop"]);
  await start();
  let running = true;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await start();
      running = true;
    },
    async stop() {
      await stop();
      running = false;
    },
    async remove() {
      if (running) await stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
