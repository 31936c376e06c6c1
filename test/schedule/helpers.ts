import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePluginConfig } from "../../src/driver/config.ts";
import { createExecDriver } from "../../src/driver/exec.ts";
import { FunctionRegistry } from "../../src/functions/registry.ts";
import { taskParser } from "../../src/functions/task.ts";
import { createInvokeServices, type InvokeServices } from "../../src/invoke/services.ts";
import { type Clock, ManualClock } from "../../src/schedule/clock.ts";
import { invokerAdapter } from "../../src/schedule/invoke.ts";
import { ScheduleRunStore } from "../../src/schedule/runs.ts";
import { Scheduler } from "../../src/schedule/scheduler.ts";
import type { Db } from "../../src/store/db.ts";

export const T0 = Date.parse("2030-01-01T00:00:30Z");
export const minute = (n: number, sec = 0) => T0 - 30_000 + n * 60_000 + sec * 1000;

const plugin = parsePluginConfig({});
export const parseTask = taskParser(plugin);

/** One "server": the real exec driver, an invoker and a registry of API-defined functions. */
export interface Server {
  registry: FunctionRegistry;
  services: InvokeServices;
  dispose(): Promise<void>;
}

export function makeServer(): Server {
  const dataDir = mkdtempSync(join(tmpdir(), "bunker-sched-"));
  const driver = createExecDriver({ plugin, dataDir });
  const registry = new FunctionRegistry({ parseTask });
  const services = createInvokeServices({
    driver,
    lookup: (n) => registry.get(n),
    callbackSecret: "schedule-test",
  });
  return {
    registry,
    services,
    async dispose() {
      await services.async.close();
      await driver.drain();
      // The driver makes its tasks directory a mount point of its own.
      Bun.spawnSync(["umount", join(dataDir, "tasks")]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A scheduler that sees only the functions named in `only` (tests share one registry). */
export function makeScheduler(
  server: Server,
  db: Db,
  node: string,
  only: string[],
  clock: Clock = new ManualClock(T0),
) {
  const lines: string[] = [];
  const scheduler = new Scheduler({
    functions: () => server.registry.list().filter((f) => only.includes(f.name)),
    runs: new ScheduleRunStore(db),
    invoker: invokerAdapter(server.services.invoker),
    node,
    clock,
    log: (l) => lines.push(l),
    random: () => 0.5,
  });
  return { scheduler, lines, runs: new ScheduleRunStore(db) };
}

let seq = 0;
/** A DNS-label function name unique to this process and test. */
export function uniqueName(prefix: string): string {
  seq += 1;
  return `${prefix}-${process.pid}-${seq}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Stops every run still going on the server (long sleeps of overlap tests). */
export async function cancelAll(server: Server, ids: (string | undefined)[]): Promise<void> {
  for (const id of ids) {
    const r = id ? server.services.invoker.active(id) : undefined;
    if (r) {
      await r.cancel();
      await r.result;
    }
  }
}
