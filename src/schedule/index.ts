/**
 * The scheduler's public surface and its start-up for the composition root.
 */
import type { FunctionRegistry } from "../functions/registry.ts";
import type { Invoker } from "../invoke/invoker.ts";
import type { Db } from "../store/db.ts";
import type { Clock } from "./clock.ts";
import { invokerAdapter } from "./invoke.ts";
import { ScheduleRunStore } from "./runs.ts";
import { Scheduler } from "./scheduler.ts";

export { type Clock, clockFromEnv, ManualClock, ScaledClock, systemClock } from "./clock.ts";
export { type Cron, CronError, checkTimeZone, nextFire, nextFires, parseCron } from "./cron.ts";
export { JobNotFoundError, JobOverlapError } from "./errors.ts";
export { type CronInvoker, type CronRunEnd, type CronRunRequest, invokerAdapter } from "./invoke.ts";
export { type ClaimResult, type ScheduleRun, ScheduleRunStore } from "./runs.ts";
export {
  type FireReport,
  type JobInfo,
  type JobRunInfo,
  Scheduler,
  type SchedulerDeps,
} from "./scheduler.ts";
export { type Schedule, ScheduleSchema, type ScheduleSettings, scheduleOf, toSchedule } from "./spec.ts";

/**
 * The gateway finds the scheduler of a server through its Invoker until GatewayDeps has a
 * `jobs` field (requested); a WeakMap so a stopped server's scheduler can be collected.
 */
const byInvoker = new WeakMap<Invoker, Scheduler>();

export function schedulerFor(invoker: Invoker): Scheduler | undefined {
  return byInvoker.get(invoker);
}

export interface StartSchedulerOptions {
  functions: FunctionRegistry;
  invoker: Invoker;
  db: Db;
  node: string;
  clock?: Clock;
  log?: (line: string) => void;
}

/** Builds the scheduler over the invoker and the database, catches up and starts its timer. */
export async function startScheduler(o: StartSchedulerOptions): Promise<Scheduler> {
  const scheduler = new Scheduler({
    functions: () => o.functions.list(),
    runs: new ScheduleRunStore(o.db),
    invoker: invokerAdapter(o.invoker),
    node: o.node,
    ...(o.clock === undefined ? {} : { clock: o.clock }),
    ...(o.log === undefined ? {} : { log: o.log }),
  });
  byInvoker.set(o.invoker, scheduler);
  await scheduler.start();
  return scheduler;
}
