/**
 * Composition root: reads the config, builds every part, starts serving.
 * The only place that knows how the boxes of ARCHITECTURE.md fit together.
 */
import { resolve } from "node:path";
import { loadPluginConfig } from "./cli/plugin.ts";
import type { Config } from "./config.ts";
import { createExecDriver, type ExecDriver } from "./driver/exec.ts";
import { loadFunctionDir } from "./functions/loader.ts";
import { FunctionRegistry } from "./functions/registry.ts";
import { taskParser } from "./functions/task.ts";
import { type RunningServer, startServer } from "./gateway/server.ts";
import { parseTokensEnv } from "./gateway/tokens.ts";
import { WarmPool } from "./pool/pool.ts";

export const VERSION = "0.1.0";

/** The warm pool in front of the driver, unless BUNKER_POOL_MIN is 0. */
function poolFor(config: Config, exec: ExecDriver): WarmPool | null {
  if (config.BUNKER_POOL_MIN === 0) return null;
  return new WarmPool(exec, {
    min: config.BUNKER_POOL_MIN,
    max: Math.max(config.BUNKER_POOL_MAX, config.BUNKER_POOL_MIN),
    globalMax: config.BUNKER_POOL_GLOBAL_MAX,
    idleTtlMs: config.BUNKER_POOL_IDLE_TTL * 1000,
  });
}

export async function serve(config: Config, log: (line: string) => void = console.log): Promise<RunningServer> {
  const plugin = loadPluginConfig(config);
  const exec = createExecDriver({ plugin, dataDir: config.dataDir });
  const fp = exec.fingerprint();
  if (fp.health === "healthy") {
    const leftovers = await exec.recover();
    const n = leftovers.cgroups.length + leftovers.taskDirs.length;
    if (n > 0) log(`bunker: removed ${n} leftovers of a previous run`);
  } else {
    // ARCHITECTURE rule 5: the server still starts; invocations answer 503 with the reason.
    log(`bunker: exec driver is ${fp.health}: ${fp.description}`);
  }
  const pool = poolFor(config, exec);
  const driver = pool ?? exec;
  const parseTask = taskParser(plugin);
  const dir = resolve(config.BUNKER_FUNCTIONS_DIR);
  const loaded = loadFunctionDir(dir, parseTask);
  for (const e of loaded.errors) log(`bunker: skipped ${e.path}: ${e.message}`);
  const functions = new FunctionRegistry({ files: loaded.functions, parseTask });
  // Slots for every known function get ready in the background, so even the first call is warm.
  if (pool && fp.health === "healthy") for (const fn of functions.list()) pool.warm(fn.task);
  const server = startServer({
    port: config.BUNKER_PORT,
    hostname: config.BUNKER_HOST,
    version: VERSION,
    driver,
    functions,
    loadErrors: loaded.errors,
    tokens: config.BUNKER_TOKENS ? parseTokensEnv(config.BUNKER_TOKENS) : [],
    ...(config.BUNKER_CALLBACK_SECRET ? { callbackSecret: config.BUNKER_CALLBACK_SECRET } : {}),
    log,
  });
  log(`bunker: serving ${loaded.functions.length} functions on ${server.url.href}`);
  return server;
}
