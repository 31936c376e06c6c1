import { readFileSync } from "node:fs";
import type { Config } from "../config.ts";
import { type BunkerPluginConfig, parsePluginConfig } from "../driver/config.ts";
import { createExecDriver, type ExecDriver } from "../driver/exec.ts";
import { BunkerError } from "../errors.ts";

/** The exec plugin config: BUNKER_PLUGIN_CONFIG (a JSON file) or Nomad's defaults. */
export function loadPluginConfig(config: Config): BunkerPluginConfig {
  if (!config.BUNKER_PLUGIN_CONFIG) return parsePluginConfig({});
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(config.BUNKER_PLUGIN_CONFIG, "utf8"));
  } catch (err) {
    throw new BunkerError(
      "invalid",
      `cannot read plugin config ${config.BUNKER_PLUGIN_CONFIG}: ${String(err)}`,
    );
  }
  return parsePluginConfig(raw);
}

/** The exec driver as the server and `bunker run` configure it: data dir, run dir, cgroup tuning. */
export function execDriverFor(config: Config, plugin: BunkerPluginConfig): ExecDriver {
  return createExecDriver({
    plugin,
    dataDir: config.dataDir,
    runDir: config.BUNKER_RUN_DIR,
    favorDynmods: config.BUNKER_CGROUP_FAVORDYNMODS === "1",
  });
}
