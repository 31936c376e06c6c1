import { BunkerError, errorMessage } from "../errors.ts";

/** Any failure of the records layer: the database, the migrations or the local journal. */
export class StoreError extends BunkerError {
  constructor(message: string, detail?: Record<string, unknown>) {
    super("store", message, detail);
    this.name = "StoreError";
  }
}

/** Wrap a caught value so the message names the operation that failed. */
export function storeError(operation: string, err: unknown): StoreError {
  return new StoreError(`${operation}: ${errorMessage(rootCause(err))}`, { sqlstate: sqlState(err) });
}

/** Drizzle wraps driver errors in DrizzleQueryError; the driver's error is the useful one. */
function rootCause(err: unknown): unknown {
  let cur = err;
  for (let depth = 0; depth < 5 && cur instanceof Error && cur.cause !== undefined; depth++) cur = cur.cause;
  return cur;
}

/** The SQLSTATE of a Postgres error (postgres.js and PGlite both put it on `.code`), if any. */
export function sqlState(err: unknown): string | undefined {
  let cur = err;
  for (let depth = 0; depth < 5 && cur instanceof Error; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
    cur = cur.cause;
  }
  return undefined;
}

/**
 * True when retrying the same statement can never succeed: the data itself is
 * rejected (class 22 data exception, class 23 integrity violation). Everything
 * else — refused connections, admin shutdown, timeouts — is treated as an
 * outage worth waiting out, because guessing wrong there would drop records.
 */
export function isPermanent(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && (state.startsWith("22") || state.startsWith("23"));
}
