import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TaskHandle } from "../../src/driver/api.ts";
import { parsePluginConfig, parseTask } from "../../src/driver/config.ts";
import { createExecDriver } from "../../src/driver/exec.ts";

export const plugin = parsePluginConfig({});
export const driver = createExecDriver({ plugin, dataDir: mkdtempSync(join(tmpdir(), "bunker-net-")) });

export function shTask(name: string, script: string, extra: Record<string, unknown> = {}) {
  return parseTask({ name, config: { command: "/bin/sh", args: ["-c", script] }, ...extra }, plugin);
}

/** Runs a task to its end and returns its stdout, stderr and outcome. */
export async function runTask(name: string, script: string, extra: Record<string, unknown> = {}) {
  const h = await driver.start(shTask(name, script, extra), { stdout: "pipe", stderr: "pipe" });
  return collect(h);
}

export async function collect(h: TaskHandle) {
  const [stdout, stderr, outcome] = await Promise.all([
    new Response(h.stdout).text(),
    new Response(h.stderr).text(),
    h.wait(),
  ]);
  return { stdout, stderr, outcome };
}
