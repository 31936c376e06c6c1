/**
 * Fixed statements on PGlite as named prepared statements, driven through its
 * wire protocol. `PGlite.query(text, params)` parses and plans the statement
 * every time and builds its Bind message in JavaScript a byte at a time:
 * measured with a 70 KB parameter (a batch of 25 invocations with a row per
 * span), the message alone took 0.86 ms and the whole call about 2.5 ms,
 * where running the statement took 0.2 ms. Here it is parsed once per database
 * handle and each run is one Bind/Execute/Sync written with TextEncoder.
 * PGlite still runs it under its own locks, so it never interleaves with a
 * drizzle query or lands inside someone's open transaction.
 */
import { type PGlite, protocol } from "@electric-sql/pglite";

export type PgliteStatement = (text: string, params: readonly unknown[]) => Promise<unknown>;

export function pgliteStatements(client: PGlite): PgliteStatement {
  const names = new Map<string, string>();
  return (text, params) =>
    client._runExclusiveTransaction(() =>
      client._runExclusiveQuery(async () => {
        let name = names.get(text);
        if (name === undefined) {
          name = `bunker_${names.size + 1}`;
          // A statement that fails to parse is not remembered, so the next run reports the same error.
          await client.execProtocol(Buffer.concat([protocol.serialize.parse({ name, text }), SYNC]));
          names.set(text, name);
        }
        return client.execProtocol(bindExecuteSync(name, params));
      }),
    );
}

const SYNC = protocol.serialize.sync();

const encoder = new TextEncoder();

/**
 * Bind (text parameters, text results), Execute (all rows), Sync in one
 * message. Layouts from the Postgres frontend/backend protocol: every message
 * is a type byte and an int32 length that counts itself but not the type.
 */
export function bindExecuteSync(statement: string, params: readonly unknown[]): Uint8Array {
  const name = encoder.encode(statement);
  const values = params.map(paramBytes);
  // Per parameter: a format code (0, text), then its length and bytes.
  let bindLength = 4 + 1 + name.length + 1 + 2 + 2 + 2;
  for (const v of values) bindLength += 2 + 4 + (v?.length ?? 0);
  const execLength = 4 + 1 + 4;
  const out = new Uint8Array(1 + bindLength + 1 + execLength + 5);
  const view = new DataView(out.buffer);
  let at = 0;
  out[at++] = 0x42; // 'B'
  view.setInt32(at, bindLength);
  at += 4;
  at += 1; // unnamed portal: an empty string
  out.set(name, at);
  at += name.length + 1;
  view.setInt16(at, values.length); // one format code each, all 0: text
  at += 2 + 2 * values.length;
  view.setInt16(at, values.length);
  at += 2;
  for (const v of values) {
    view.setInt32(at, v === null ? -1 : v.length);
    at += 4;
    if (v !== null) {
      out.set(v, at);
      at += v.length;
    }
  }
  view.setInt16(at, 0); // results in text
  at += 2;
  out[at++] = 0x45; // 'E'
  view.setInt32(at, execLength);
  at += 4 + 1; // unnamed portal
  view.setInt32(at, 0); // no row limit
  at += 4;
  out.set(SYNC, at);
  return out;
}

function paramBytes(value: unknown, index: number): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") {
    throw new TypeError(`statement parameter $${index + 1} must be a string or null, not ${typeof value}`);
  }
  return encoder.encode(value);
}
