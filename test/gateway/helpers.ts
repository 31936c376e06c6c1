import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePluginConfig } from "../../src/driver/config.ts";
import { createExecDriver } from "../../src/driver/exec.ts";
import { loadFunctionDir } from "../../src/functions/loader.ts";
import { FunctionRegistry } from "../../src/functions/registry.ts";
import { taskParser } from "../../src/functions/task.ts";
import { createApp } from "../../src/gateway/app.ts";
import { sha256, TokenStore } from "../../src/gateway/tokens.ts";
import { createInvokeServices } from "../../src/invoke/services.ts";

export const FUNCTIONS_DIR = join(import.meta.dir, "../../functions");
export const plugin = parsePluginConfig({});
export const parseTask = taskParser(plugin);
const dataDir = mkdtempSync(join(tmpdir(), "bunker-gw-"));
export const driver = createExecDriver({ plugin, dataDir });
process.on("exit", () => {
  // The driver mounts a tmpfs on <data dir>/tasks at first use.
  Bun.spawnSync(["umount", join(dataDir, "tasks")], { stderr: "ignore" });
  try {
    rmSync(dataDir, { recursive: true, force: true });
  } catch {
    // EBUSY: the mount lives in another mount namespace (reported to the driver's owner).
  }
});

export const ADMIN = "admin-token-0123456789";
export const INVOKER = "invoke-token-0123456789";
export const CALLBACK_SECRET = "test-callback-secret";

/** A gateway over the real exec driver and the example functions. */
export function makeApp(opts: { auth?: boolean } = {}) {
  const loaded = loadFunctionDir(FUNCTIONS_DIR, parseTask);
  const functions = new FunctionRegistry({ files: loaded.functions, parseTask });
  const services = createInvokeServices({
    driver,
    lookup: (n) => functions.get(n),
    callbackSecret: CALLBACK_SECRET,
    callbackBackoffMs: 10,
  });
  const tokens = opts.auth
    ? new TokenStore([
        { name: "admin", sha256: sha256(ADMIN), scopes: new Set(["admin"]) },
        { name: "ci", sha256: sha256(INVOKER), scopes: new Set(["invoke"]) },
      ])
    : null;
  const app = createApp({
    version: "test",
    functions,
    ...services,
    fingerprint: () => driver.fingerprint(),
    tokens,
    loadErrors: loaded.errors,
  });
  return { app, functions, services };
}

export const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

/** Polls an invocation until it is final (no wall-clock assertion; bounded by the test timeout). */
export async function waitFinal(app: ReturnType<typeof makeApp>["app"], id: string, headers = {}) {
  for (;;) {
    const r = await app.request(`/system/invocations/${id}`, { headers });
    const rec = (await r.json()) as { status: string };
    if (!["queued", "running"].includes(rec.status)) return rec as Record<string, unknown>;
    await Bun.sleep(20);
  }
}
