/**
 * The embedded database's own thread. PGlite is Postgres compiled to WASM and
 * runs on the thread that calls it: on the server's event loop a batch of
 * records held every request for milliseconds. Here it runs on this worker;
 * the server talks to it through pglite-thread.ts, which drizzle uses like a
 * PGlite. Each database is one connection, as before: PGlite's own locks
 * order its queries and keep a transaction's statements together. One thread
 * serves every database a process opens, so a second one starts on code the
 * JIT has already compiled (a cold thread needs seconds for initdb).
 */
import { PGlite, type Results, type Transaction } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import { migrate } from "drizzle-orm/pglite/migrator";
import { serveJobs } from "../threads.ts";
import { MIGRATIONS_FOLDER } from "./migrations.ts";
import { type PgliteStatement, pgliteStatements } from "./pglite-statements.ts";

export type PgliteJob =
  | { op: "open"; db: number; dir: string }
  | { op: "query"; db: number; text: string; params: unknown[]; array: boolean; raw: number[]; tx: number }
  | { op: "statement"; db: number; text: string; params: string[] }
  | { op: "begin"; db: number }
  | { op: "end"; db: number; tx: number; commit: boolean }
  | { op: "close"; db: number };

/** A transaction held open for the other thread, which sends its statements and then its end. */
interface OpenTx {
  tx: Transaction;
  end(commit: boolean): void;
  /** Settles when COMMIT (or ROLLBACK) is done. */
  done: Promise<void>;
}

interface Instance {
  pg: PGlite;
  statement: PgliteStatement;
  transactions: Map<number, OpenTx>;
}

const instances = new Map<number, Instance>();
let lastTx = 0;
const ROLLBACK = Symbol("rollback");

serveJobs<PgliteJob, unknown>(async (job) => {
  if (job.op === "open") return open(job.db, job.dir);
  const db = instances.get(job.db);
  if (!db) throw new Error("the embedded database is not open");
  switch (job.op) {
    case "query":
      return query(db, job);
    case "statement":
      return db.statement(job.text, job.params).then(() => null);
    case "begin":
      return begin(db);
    case "end":
      return end(db, job.tx, job.commit);
    case "close":
      instances.delete(job.db);
      await db.pg.close();
      return null;
  }
});

async function open(id: number, dir: string): Promise<null> {
  const pg = await PGlite.create(dir);
  try {
    // One connection, nobody to race: no migration lock here (db.ts takes one on Postgres).
    await migrate(drizzle({ client: pg }), { migrationsFolder: MIGRATIONS_FOLDER });
  } catch (err) {
    await pg.close().catch(() => {});
    throw err;
  }
  instances.set(id, { pg, statement: pgliteStatements(pg), transactions: new Map() });
  return null;
}

/** `raw` lists type OIDs returned as Postgres' text (drizzle keeps timestamps and dates that way). */
function query(db: Instance, job: Extract<PgliteJob, { op: "query" }>): Promise<Results> {
  const options = {
    rowMode: job.array ? ("array" as const) : ("object" as const),
    parsers: rawParsers(job.raw),
  };
  if (job.tx === 0) return db.pg.query(job.text, job.params, options);
  const open = db.transactions.get(job.tx);
  if (!open) throw new Error(`transaction ${job.tx} is not open`);
  return open.tx.query(job.text, job.params, options);
}

const asText = (value: string) => value;
const parserSets = new Map<string, Record<number, (value: string) => string>>();

function rawParsers(oids: readonly number[]): Record<number, (value: string) => string> {
  const key = oids.join(",");
  let parsers = parserSets.get(key);
  if (!parsers) {
    parsers = Object.fromEntries(oids.map((oid) => [oid, asText]));
    parserSets.set(key, parsers);
  }
  return parsers;
}

/** Opens a transaction and answers with its number once BEGIN ran; it stays open until `end`. */
function begin(db: Instance): Promise<number> {
  const id = ++lastTx;
  let finish: (commit: boolean) => void = () => {};
  const held = new Promise<void>((commit, rollback) => {
    finish = (ok) => (ok ? commit() : rollback(ROLLBACK));
  });
  return new Promise((began, failed) => {
    const done = db.pg
      .transaction(async (tx) => {
        db.transactions.set(id, { tx, end: finish, done });
        began(id);
        return held;
      })
      .catch((err: unknown) => {
        if (err !== ROLLBACK) throw err;
      });
    // BEGIN itself failed: the callback never ran, so nobody waits on `done` but us.
    done.catch(failed);
  });
}

async function end(db: Instance, id: number, commit: boolean): Promise<null> {
  const open = db.transactions.get(id);
  if (!open) throw new Error(`transaction ${id} is not open`);
  db.transactions.delete(id);
  open.end(commit);
  await open.done;
  return null;
}
