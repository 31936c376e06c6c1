import type { Driver } from "../driver/api.ts";
import type { FunctionSpec } from "../functions/spec.ts";
import { Admission } from "./admission.ts";
import { AsyncService } from "./async.ts";
import { InvocationControl } from "./control.ts";
import { Invoker } from "./invoker.ts";
import { MemoryInvocationLog } from "./log.ts";
import { type AsyncQueue, MemoryQueue } from "./queue.ts";
import { fanOut, type InvocationReader, type InvocationSink } from "./record.ts";
import type { InvocationTracer } from "./trace.ts";

export interface InvokeServicesOptions {
  driver: Driver;
  lookup: (name: string) => FunctionSpec | undefined;
  /** Secret for callback signatures. */
  callbackSecret: string;
  /** Runs at once across all functions (sync and async). */
  globalLimit?: number;
  asyncConcurrency?: number;
  /** Extra sinks (the store layer). */
  sinks?: InvocationSink[];
  queue?: AsyncQueue;
  /** Where /system/invocations reads from (the store); default: the in-memory log. */
  reader?: (log: MemoryInvocationLog) => InvocationReader;
  tracer?: InvocationTracer;
  callbackBackoffMs?: number;
}

export interface InvokeServices {
  invoker: Invoker;
  async: AsyncService;
  invocations: InvocationControl;
  log: MemoryInvocationLog;
}

/** Builds the invoke layer with in-memory log and queue. */
export function createInvokeServices(o: InvokeServicesOptions): InvokeServices {
  const log = new MemoryInvocationLog();
  const admission = new Admission({ globalLimit: o.globalLimit ?? 64 });
  const invoker = new Invoker({
    driver: o.driver,
    admission,
    sink: fanOut(log, ...(o.sinks ?? [])),
    ...(o.tracer === undefined ? {} : { tracer: o.tracer }),
  });
  const async = new AsyncService({
    invoker,
    queue: o.queue ?? new MemoryQueue(),
    lookup: o.lookup,
    callbackSecret: o.callbackSecret,
    concurrency: o.asyncConcurrency ?? 16,
    ...(o.callbackBackoffMs === undefined ? {} : { callbackBackoffMs: o.callbackBackoffMs }),
  });
  const reader = o.reader ? o.reader(log) : log;
  return { invoker, async, invocations: new InvocationControl({ invoker, async, reader }), log };
}
