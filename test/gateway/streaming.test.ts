import { afterAll, expect, test } from "bun:test";
import { loadFunctionDir } from "../../src/functions/loader.ts";
import { FunctionRegistry } from "../../src/functions/registry.ts";
import { startServer } from "../../src/gateway/server.ts";
import { driver, FUNCTIONS_DIR, parseTask } from "./helpers.ts";

const SIZE = 256 * 1024 * 1024;
const name = `big-${Date.now().toString(36)}`;
const functions = new FunctionRegistry({
  files: loadFunctionDir(FUNCTIONS_DIR, parseTask).functions,
  parseTask,
});
functions.create(name, {
  command: "/bin/sh",
  args: ["-c", `head -c ${SIZE} /dev/zero`],
  max_output: "1GiB",
  timeout: "60s",
  public: true,
});
const server = startServer({ port: 0, driver, functions, log: () => {} });
afterAll(() => server.stop());

test("a large output streams through a real socket with bounded memory", async () => {
  Bun.gc(true);
  Bun.gc(true);
  const before = process.memoryUsage().rss;
  let peak = before;
  let total = 0;
  const res = await fetch(new URL(`/function/${name}`, server.url));
  expect(res.status).toBe(200);
  // Committed to 200 before the end: no exit code yet, the call id already.
  expect(res.headers.get("x-function-exit-code")).toBeNull();
  expect(res.headers.get("x-call-id")).not.toBeNull();
  let n = 0;
  for await (const chunk of res.body ?? []) {
    total += chunk.byteLength;
    // Collect first: what counts is what is retained, not garbage not yet swept.
    if (++n % 256 === 0) {
      Bun.gc(true);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
  }
  expect(total).toBe(SIZE);
  // Server and client share this process; holding the output would cost SIZE at least.
  expect(peak - before).toBeLessThan(SIZE / 4);
  const id = res.headers.get("x-call-id") ?? "";
  const rec = await server.services.invocations.get(id);
  expect(rec.status).toBe("succeeded");
}, 60_000);
