/**
 * scripts/patch-postgres.mjs: postgres.js 3.4.9 crashes the process when the
 * server goes away in the middle of a transaction (porsager/postgres#1066,
 * #1154, #1208). These tests prove the installed copy is patched, that the
 * patch script is idempotent and refuses code it does not recognise, and that
 * a transaction interrupted by stopping a real (throwaway) server no longer
 * takes the process down.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeTempDirs, startThrowawayPostgres, tempDir } from "./helpers.ts";

const ROOT = join(import.meta.dir, "..", "..");
const SCRIPT = join(ROOT, "scripts", "patch-postgres.mjs");
const PKG = join(ROOT, "node_modules", "postgres");
const BUILDS = ["src/connection.js", "cjs/src/connection.js", "cf/src/connection.js"];
const MARKER = "bunker: guard null socket";

afterAll(removeTempDirs);

function runScript(root: string): { code: number; out: string } {
  const proc = Bun.spawnSync(["node", SCRIPT, root], { stdout: "pipe", stderr: "pipe" });
  return { code: proc.exitCode ?? -1, out: proc.stdout.toString() + proc.stderr.toString() };
}

describe("patch-postgres script", () => {
  test("every build of the installed postgres.js carries the guard", () => {
    for (const build of BUILDS) expect(readFileSync(join(PKG, build), "utf8")).toContain(MARKER);
  });

  test("is idempotent and fails loudly on code it does not recognise", () => {
    const copy = join(tempDir("pgpatch"), "postgres");
    cpSync(PKG, copy, { recursive: true });
    const again = runScript(copy);
    expect(again.code).toBe(0);
    expect(again.out).toContain("0 patched, 3 already patched");
    for (const build of BUILDS) {
      const file = join(copy, build);
      const text = readFileSync(file, "utf8");
      expect(text.split(MARKER).length - 1).toBe(1);
      // Pretend upstream rewrote the function: the script must refuse, not skip silently.
      const lines = text.split("\n").filter((line) => !line.includes(MARKER));
      writeFileSync(
        file,
        lines.join("\n").replace("const x = socket.write(chunk, fn)", "return socket.write(chunk, fn)"),
      );
    }
    const changed = runScript(copy);
    expect(changed.code).toBe(1);
    expect(changed.out).toContain("postgres.js changed");
  });
});

describe("postgres.js survives a server stop mid-transaction", () => {
  test("the process lives on and the transactions reject", async () => {
    const server = await startThrowawayPostgres();
    try {
      const child = Bun.spawn(
        [process.execPath, join(import.meta.dir, "fixtures", "pg-restart-child.ts"), server.url],
        { stdin: "pipe", stdout: "pipe", stderr: "pipe", cwd: ROOT },
      );
      const reader = child.stdout.getReader();
      let out = "";
      while (!out.includes("STOP")) {
        const r = await reader.read();
        if (r.done) break;
        out += new TextDecoder().decode(r.value);
      }
      expect(out).toContain("STOP");
      await server.stop();
      child.stdin.write("go\n");
      await child.stdin.flush();
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        out += new TextDecoder().decode(r.value);
      }
      const code = await child.exited;
      const stderr = await new Response(child.stderr).text();
      expect(stderr).not.toContain("socket.write");
      expect(out).toContain("SURVIVED failed=3");
      expect(code).toBe(0);
    } finally {
      await server.remove();
    }
  }, 60_000);
});
