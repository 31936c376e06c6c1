#!/usr/bin/env node
/**
 * Patches postgres.js (pinned 3.4.9) so a Postgres restart in the middle of a
 * transaction cannot crash the whole Bunker process.
 *
 * Upstream bug: porsager/postgres#1066, #1154, #1208. When the server closes a
 * connection, `closed()` sets `socket = null`, but a write queued with
 * setImmediate (or the ROLLBACK a transaction sends on error) still runs
 * `nextWrite`, which calls `socket.write` on null. The TypeError is thrown from
 * a timer callback, so nothing can catch it and the process dies. The guard
 * drops the pending bytes instead: the connection is gone, and the queries
 * waiting on it are already failed by `closed()` with CONNECTION_CLOSED.
 *
 * Run from package.json's postinstall. Idempotent (a patched file is left
 * alone) and loud: if the code it patches is not found exactly, it exits 1 so
 * a postgres.js upgrade is looked at instead of silently going unpatched.
 * Remove this script once upstream ships the fix.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const MARKER = "/* bunker: guard null socket, porsager/postgres#1066 */";
const ORIGINAL = "  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)\n";
const PATCHED = `  function nextWrite(fn) {\n    ${MARKER}\n    if (!socket) {\n      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n      chunk = nextWriteTimer = null\n      return false\n    }\n    const x = socket.write(chunk, fn)\n`;
/** Every build of the package: ESM (Node and Bun), CommonJS, and the workerd build. */
const BUILDS = ["src/connection.js", "cjs/src/connection.js", "cf/src/connection.js"];

function packageRoot() {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve("postgres/package.json"));
  } catch {
    // Some versions do not export package.json; fall back to the install layout.
    return join(dirname(new URL(import.meta.url).pathname), "..", "node_modules", "postgres");
  }
}

/** An explicit package directory (tests) or the installed postgres package. */
const root = process.argv[2] ?? packageRoot();
let patched = 0;
let already = 0;
for (const build of BUILDS) {
  const file = join(root, build);
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    console.error(`patch-postgres: cannot read ${file}: ${err.message}`);
    process.exit(1);
  }
  if (text.includes(MARKER)) {
    already += 1;
    continue;
  }
  const count = text.split(ORIGINAL).length - 1;
  if (count !== 1) {
    console.error(
      `patch-postgres: ${file}: expected exactly one \`nextWrite\` as in postgres.js 3.4.9, found ${count}. ` +
        "postgres.js changed: check whether porsager/postgres#1066 is fixed upstream and update or remove scripts/patch-postgres.mjs.",
    );
    process.exit(1);
  }
  writeFileSync(file, text.replace(ORIGINAL, PATCHED));
  patched += 1;
}
console.log(`patch-postgres: ${patched} patched, ${already} already patched (${root})`);
