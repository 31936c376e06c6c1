/**
 * What the scheduler needs from the invoke layer, and the adapter over Invoker.
 */
import type { FunctionSpec } from "../functions/spec.ts";
import type { Invoker } from "../invoke/invoker.ts";
import type { InvocationStatus } from "../invoke/record.ts";

export interface CronRunRequest {
  fn: FunctionSpec;
  /** Chosen by the scheduler and stored in the claim before the run starts. */
  id: string;
  stdin: Uint8Array | null;
  /** Telemetry attributes of the invocation: `faas.trigger`, `faas.cron`, `faas.time`. */
  attributes: Record<string, string>;
}

export interface CronRunEnd {
  status: InvocationStatus;
  exitCode: number | null;
  error: string | null;
}

export interface CronInvoker {
  /** Starts the run; throws (BusyError, DriverUnavailableError, SetupFailedError) when it cannot. */
  start(req: CronRunRequest): Promise<{ done: Promise<CronRunEnd> }>;
  /** Stops a run of this process and waits for its end; false when it does not run here. */
  cancel(id: string): Promise<boolean>;
}

/** Runs scheduled invocations through the Invoker, recorded with trigger "cron" and traced with faas.cron/faas.time. */
export function invokerAdapter(invoker: Invoker): CronInvoker {
  return {
    async start(req) {
      const running = await invoker.start({
        fn: req.fn,
        mode: "sync",
        id: req.id,
        stdin: req.stdin,
        trigger: "cron",
        attributes: req.attributes,
      });
      // Nobody reads a scheduled run's stdout; drain it so the task never blocks on a full pipe.
      void running.stdout.pipeTo(new WritableStream()).catch(() => {});
      const done = running.result.then(
        (r): CronRunEnd => ({
          status: r.status,
          exitCode: r.outcome?.exitCode ?? null,
          error: r.error ?? null,
        }),
      );
      return { done };
    },
    async cancel(id) {
      const running = invoker.active(id);
      if (!running) return false;
      await running.cancel();
      await running.result;
      return true;
    },
  };
}
