/**
 * The server's side of the embedded database thread (pglite-worker.ts): an
 * object drizzle's PGlite driver takes for a PGlite, since it only ever calls
 * `query` and `transaction`. Every database the process opens lives on the
 * same thread, which stays for the life of the process (unref'd, like the
 * spawn threads). A transaction is a number the thread holds open
 * until this side sends its end, so drizzle's transaction callbacks keep
 * running here, between statements, as they did in process.
 */
import type { QueryOptions, Results } from "@electric-sql/pglite";
import { type JobError, Threads } from "../threads.ts";
import type { PgliteJob } from "./pglite-worker.ts";

type Query = <T>(text: string, params?: unknown[], options?: QueryOptions) => Promise<Results<T>>;

/** The database thread's name in /proc, by which bench/recording.ts accounts its CPU. */
export const PGLITE_THREAD = "bunker-pglite";

let thread: Threads<PgliteJob, unknown> | undefined;
let lastDb = 0;

/** Jobs without their database's number, which each PgliteThread adds. */
type WithoutDb<J> = J extends unknown ? Omit<J, "db"> : never;
type Job = WithoutDb<PgliteJob>;

export class PgliteThread {
  readonly #db = ++lastDb;
  #closed = false;

  /** Opens (and migrates) the database in `dir` on the database thread. */
  static async open(dir: string): Promise<PgliteThread> {
    const db = new PgliteThread();
    await db.#run({ op: "open", dir });
    return db;
  }

  readonly query: Query = (text, params = [], options) => this.#query(0, text, params, options);

  async transaction<T>(fn: (tx: { query: Query }) => Promise<T>): Promise<T> {
    const tx = (await this.#run({ op: "begin" })) as number;
    let result: T;
    try {
      result = await fn({ query: (text, params = [], options) => this.#query(tx, text, params, options) });
    } catch (err) {
      // The callback's error is the one that matters; a failed ROLLBACK adds nothing to it.
      await this.#run({ op: "end", tx, commit: false }).catch(() => {});
      throw err;
    }
    await this.#run({ op: "end", tx, commit: true });
    return result;
  }

  /** A fixed statement, prepared once on the thread (pglite-statements.ts). */
  async statement(text: string, params: readonly unknown[]): Promise<void> {
    await this.#run({ op: "statement", text, params: params as string[] });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#send({ op: "close" });
  }

  async #query<T>(tx: number, text: string, params: unknown[], options?: QueryOptions): Promise<Results<T>> {
    const job: Job = {
      op: "query",
      text,
      params,
      array: options?.rowMode === "array",
      raw: rawTypes(options),
      tx,
    };
    return this.#run(job) as Promise<Results<T>>;
  }

  #run(job: Job): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error("the embedded database is closed"));
    return this.#send(job);
  }

  #send(job: Job): Promise<unknown> {
    thread ??= new Threads<PgliteJob, unknown>(
      new URL("./pglite-worker.ts", import.meta.url),
      1,
      PGLITE_THREAD,
    );
    return thread.run({ ...job, db: this.#db } as PgliteJob).catch((e: JobError) => {
      throw Object.assign(new Error(e.message ?? "embedded database error"), e);
    });
  }
}

/**
 * Parsers cannot cross to the thread. drizzle only passes ones that keep a
 * type as Postgres' text (timestamps, dates, intervals), so the thread is told
 * which types those are; any other parser is refused rather than dropped.
 */
function rawTypes(options?: QueryOptions): number[] {
  const parsers = options?.parsers;
  if (!parsers) return [];
  const oids: number[] = [];
  for (const [oid, parse] of Object.entries(parsers)) {
    if (parse("2000-01-01 00:00:00", Number(oid)) !== "2000-01-01 00:00:00") {
      throw new Error(`a parser for type ${oid} cannot run on the database thread`);
    }
    oids.push(Number(oid));
  }
  return oids;
}
