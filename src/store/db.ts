/**
 * Opens the system of record: Postgres through postgres.js when a URL is given,
 * otherwise an embedded PGlite database in the data directory. Both are
 * migrated from the same committed drizzle migrations before first use.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import type { ExtractTablesWithRelations } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import * as schema from "../../db/schema.ts";
import { StoreError, storeError } from "./errors.ts";
import { MIGRATIONS_FOLDER } from "./migrations.ts";
import { PgliteThread } from "./pglite-thread.ts";

export type Schema = typeof schema;
/** The query builder both drivers share; store code is written against this only. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** A database handle or an open transaction: queries that compose take either. */
export type Queryable = Db | Tx;

export interface OpenDatabaseOptions {
  /** Postgres URL (the caller reads DATABASE_URL); absent means embedded PGlite. */
  url?: string | undefined;
  /** Bunker's data directory; PGlite lives in `<dataDir>/pglite`. */
  dataDir: string;
  /** Pool size for Postgres (default 10). */
  maxConnections?: number;
}

export interface Database {
  readonly db: Db;
  readonly driver: "postgres" | "pglite";
  readonly dataDir: string;
  close(): Promise<void>;
}

/** Runs fixed SQL text with positional parameters straight on the driver, bypassing drizzle. */
export type RunStatement = (text: string, params: readonly unknown[]) => Promise<unknown>;

/** Set by openDatabase for each handle it builds; a Db from elsewhere has none. */
const runners = new WeakMap<Db, RunStatement>();

/**
 * Arbitrary but fixed key for pg_advisory_lock: every Bunker server migrating
 * the same database queues on it, so two servers starting together apply each
 * migration once instead of racing on CREATE TABLE.
 */
const MIGRATION_LOCK_KEY = 0x42_75_6e_6b; // "Bunk"

/**
 * The hot write path's way to the driver (see upsert.ts): postgres.js keeps
 * each statement prepared per connection, so Postgres parses and plans it
 * once, not once per batch, and drizzle's per-call query building is skipped.
 * Undefined for a handle openDatabase did not build: callers fall back to drizzle.
 */
export function statementRunner(db: Queryable): RunStatement | undefined {
  return runners.get(db as Db);
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  return options.url ? openPostgres(options.url, options) : openPglite(options.dataDir);
}

async function openPostgres(url: string, options: OpenDatabaseOptions): Promise<Database> {
  await migratePostgresLocked(url);
  const client = postgres(url, {
    max: options.maxConnections ?? 10,
    onnotice: () => {},
    // Fail fast while the server is down so the writer can spill instead of hanging.
    connect_timeout: 5,
  });
  const db = drizzlePostgres({ client, schema }) as unknown as Db;
  runners.set(db, (text, params) => client.unsafe(text, params as never[], { prepare: true }));
  return {
    db,
    driver: "postgres",
    dataDir: options.dataDir,
    close: () => client.end({ timeout: 5 }),
  };
}

/**
 * Migrates over one dedicated connection: a session-level advisory lock is
 * tied to the connection that took it, so the lock, the migration and the
 * unlock must not be spread over a pool.
 */
async function migratePostgresLocked(url: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await migratePostgres(drizzlePostgres({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } catch (err) {
    throw storeError("cannot migrate the Postgres database", err);
  } finally {
    await client.end({ timeout: 5 });
  }
}

/**
 * PGlite runs on a thread of its own (pglite-worker.ts), which also migrates
 * it: on the event loop its WASM held every request up while it wrote.
 */
async function openPglite(dataDir: string): Promise<Database> {
  const dir = join(dataDir, "pglite");
  mkdirSync(dir, { recursive: true });
  let client: PgliteThread;
  try {
    client = await PgliteThread.open(dir);
  } catch (err) {
    throw storeError(`cannot open the embedded database in ${dir}`, err);
  }
  // A PgliteThread has everything drizzle's PGlite driver calls (see pglite-thread.ts).
  const db = drizzlePglite({ client: client as unknown as PGlite, schema }) as unknown as Db;
  runners.set(db, (text, params) => client.statement(text, params));
  return {
    db,
    driver: "pglite",
    dataDir,
    close: () => client.close(),
  };
}

export { StoreError };
