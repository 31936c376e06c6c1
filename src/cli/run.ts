/**
 * `bunker run`: one isolated task from the command line, with Nomad's
 * isolation; streams its stdio and exits with its code (128+N for signal N,
 * 124 on timeout, 126 not executable, 127 not found).
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Config } from "../config.ts";
import { parseTask, type TaskInput } from "../driver/config.ts";
import { parseNomadTask } from "../driver/nomad.ts";
import type { Outcome } from "../driver/types.ts";
import { BunkerError, ValidationError } from "../errors.ts";
import { intFlag, many, one, type Parsed, parseFlags } from "./args.ts";
import { execDriverFor, loadPluginConfig } from "./plugin.ts";

export const RUN_USAGE =
  "bunker run [--user U] [--pid-mode private|host] [--ipc-mode private|host] [--cap-add CAP]... [--cap-drop CAP]... " +
  "[--memory MiB] [--cpu MHz|--cores N] [--pids N] [--timeout DUR] [--env K=V]... [--report FILE] " +
  "[--task NOMAD-TASK.json] -- COMMAND [ARGS...]";

const FLAGS = {
  user: { kind: "string" },
  "pid-mode": { kind: "string" },
  "ipc-mode": { kind: "string" },
  "cap-add": { kind: "list" },
  "cap-drop": { kind: "list" },
  memory: { kind: "string" },
  cpu: { kind: "string" },
  cores: { kind: "string" },
  pids: { kind: "string" },
  timeout: { kind: "string" },
  env: { kind: "list" },
  report: { kind: "string" },
  task: { kind: "string" },
} as const;

function envFlags(p: Parsed): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of many(p, "env")) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new ValidationError(`--env must be KEY=VALUE, got "${kv}"`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

/** Flags -> the task JSON parseTask validates (Nomad's field names). */
export function taskFromFlags(p: Parsed): TaskInput {
  const [command, ...args] = p.rest;
  if (!command) throw new ValidationError(`no command given; usage: ${RUN_USAGE}`);
  if (one(p, "cpu") !== undefined && one(p, "cores") !== undefined) {
    throw new ValidationError("--cpu and --cores cannot be combined");
  }
  const resources: Record<string, number> = {};
  for (const [flag, field] of [
    ["memory", "memory"],
    ["cpu", "cpu"],
    ["cores", "cores"],
    ["pids", "pids"],
  ] as const) {
    const v = intFlag(p, flag);
    if (v !== undefined) resources[field] = v;
  }
  const config: Record<string, unknown> = { command, args };
  const pidMode = one(p, "pid-mode");
  const ipcMode = one(p, "ipc-mode");
  if (pidMode !== undefined) config.pid_mode = pidMode;
  if (ipcMode !== undefined) config.ipc_mode = ipcMode;
  if (many(p, "cap-add").length) config.cap_add = many(p, "cap-add");
  if (many(p, "cap-drop").length) config.cap_drop = many(p, "cap-drop");
  const task: Record<string, unknown> = { name: "run", config, env: envFlags(p), resources };
  const user = one(p, "user");
  const timeout = one(p, "timeout");
  if (user !== undefined) task.user = user;
  if (timeout !== undefined) task.timeout = timeout;
  return task as TaskInput;
}

export function reportOf(o: Outcome): Record<string, unknown> {
  return {
    exit_code: o.exitCode,
    signal: o.signal,
    reason: o.reason,
    wall_ms: Math.round(o.wallMs * 1000) / 1000,
    cpu_user_ms: o.usage.cpuUserMs,
    cpu_system_ms: o.usage.cpuSystemMs,
    memory_peak_bytes: o.usage.memoryPeakBytes,
    max_rss_bytes: o.usage.maxRssBytes,
    pids_peak: o.usage.pidsPeak,
    ...(o.error ? { error: o.error } : {}),
  };
}

export async function runCommand(argv: string[], config: Config): Promise<number> {
  if (argv[0] === "--help") {
    console.log(`usage: ${RUN_USAGE}`);
    return 0;
  }
  const p = parseFlags(argv, FLAGS, RUN_USAGE);
  const plugin = loadPluginConfig(config);
  const taskFile = one(p, "task");
  const spec = taskFile
    ? parseNomadTask(JSON.parse(readFileSync(taskFile, "utf8")), plugin)
    : parseTask(taskFromFlags(p), plugin);
  const driver = execDriverFor(config, plugin);
  const fp = driver.fingerprint();
  if (fp.health !== "healthy") throw new BunkerError("driver_unhealthy", fp.description);
  const handle = await driver.start(spec, { stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  // Ctrl-C and termination stop the task the Nomad way: kill_signal, grace, SIGKILL.
  const stop = () => void handle.stop();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const outcome = await handle.wait();
  // Teardown runs after the outcome; the CLI exits only once nothing is left behind.
  await driver.close();
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  const report = one(p, "report");
  if (report) writeFileSync(report, `${JSON.stringify(reportOf(outcome), null, 2)}\n`);
  if (outcome.reason === "setup_failed") console.error(`bunker run: ${outcome.error}`);
  if (outcome.reason === "timeout")
    console.error("bunker run: timed out; the task and its children were killed");
  if (outcome.reason === "oom") console.error("bunker run: killed by the OOM killer (memory limit)");
  return outcome.exitCode;
}
