/**
 * Composition root: reads the config, builds every part, starts serving.
 * The only place that knows how the boxes of ARCHITECTURE.md fit together.
 */
import { resolve } from "node:path";
import { loadPluginConfig } from "./cli/plugin.ts";
import type { Config } from "./config.ts";
import { createExecDriver } from "./driver/exec.ts";
import { loadFunctionDir } from "./functions/loader.ts";
import { FunctionRegistry } from "./functions/registry.ts";
import { taskParser } from "./functions/task.ts";
import { type RunningServer, startServer } from "./gateway/server.ts";
import { parseTokensEnv } from "./gateway/tokens.ts";

export const VERSION = "0.1.0";

export async function serve(config: Config, log: (line: string) => void = console.log): Promise<RunningServer> {
  const plugin = loadPluginConfig(config);
  const driver = createExecDriver({ plugin, dataDir: config.dataDir });
  const fp = driver.fingerprint();
  if (fp.health === "healthy") {
    const leftovers = await driver.recover();
    const n = leftovers.cgroups.length + leftovers.taskDirs.length;
    if (n > 0) log(`bunker: removed ${n} leftovers of a previous run`);
  } else {
    // ARCHITECTURE rule 5: the server still starts; invocations answer 503 with the reason.
    log(`bunker: exec driver is ${fp.health}: ${fp.description}`);
  }
  const parseTask = taskParser(plugin);
  const dir = resolve(config.BUNKER_FUNCTIONS_DIR);
  const loaded = loadFunctionDir(dir, parseTask);
  for (const e of loaded.errors) log(`bunker: skipped ${e.path}: ${e.message}`);
  const functions = new FunctionRegistry({ files: loaded.functions, parseTask });
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
