import { parsePluginConfig, parseTask } from "../driver/config.ts";
import type { PluginConfig, TaskSpec } from "../driver/types.ts";
import { ValidationError } from "../errors.ts";
import type { TaskParser } from "./spec.ts";

/**
 * A function file is flat; Nomad nests the driver's own options under `config { ... }`.
 * These keys move into `config` before src/driver/config.ts's parseTask sees them, and its
 * issue pointers (`/config/command`) are mapped back to the flat spelling (`/command`).
 */
export const DRIVER_CONFIG_KEYS: ReadonlySet<string> = new Set([
  "command",
  "args",
  "pid_mode",
  "ipc_mode",
  "cap_add",
  "cap_drop",
  "work_dir",
]);

export function nestTaskFields(flat: Record<string, unknown>, name: string): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const task: Record<string, unknown> = { name, config };
  for (const [k, v] of Object.entries(flat)) {
    if (DRIVER_CONFIG_KEYS.has(k)) config[k] = v;
    else task[k] = v;
  }
  return task;
}

function flatPointer(path: string): string {
  if (path === "/config") return "";
  return path.startsWith("/config/") ? path.slice("/config".length) : path;
}

/** The task parser of function definitions: the exec driver's parseTask under `plugin`. */
export function taskParser(
  plugin: PluginConfig & { allowRoot?: boolean } = parsePluginConfig({}),
): TaskParser {
  return (flat, name): TaskSpec => {
    try {
      return parseTask(nestTaskFields(flat, name), plugin);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const issues = err.issues.map((i) => ({ path: flatPointer(i.path), message: i.message }));
      throw new ValidationError(issues.map((i) => i.message).join("; ") || err.message, issues);
    }
  };
}
