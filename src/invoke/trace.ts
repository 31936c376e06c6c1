import type { Outcome } from "../driver/types.ts";
import type { InvocationMode, InvocationStatus } from "./record.ts";

/**
 * The telemetry seam of the invoke layer: the composition root hands in an
 * implementation (src/telemetry), the invoke layer never imports it. Times are
 * on the `performance.now()` clock, as the driver's `onStage` reports them.
 */
export interface InvocationTracer {
  begin(run: TraceStart): InvocationTrace;
}

export interface TraceStart {
  id: string;
  function: string;
  mode: InvocationMode;
  attempt: number;
  /** The caller's W3C traceparent (the TRACEPARENT the gateway put in the call's env), if any. */
  traceparent?: string;
  /** "cron" for scheduled runs (faas.trigger = timer); absent for callers. */
  trigger?: "cron";
  /** Extra span attributes, e.g. faas.cron and faas.time. */
  attributes?: Record<string, string>;
  startMs: number;
}

export interface TraceEnd {
  status: InvocationStatus;
  /** Null when the task never started. */
  outcome: Outcome | null;
  pid?: number;
  /** The task ran in a slot prepared before it was asked for (faas.coldstart = !warm). */
  warm?: boolean;
  error?: string;
  endMs: number;
}

export interface InvocationTrace {
  /** The traceparent naming this invocation's span: handed to the task as TRACEPARENT. */
  readonly traceparent: string;
  readonly traceId: string;
  stage(name: string, startMs: number, endMs: number): void;
  /** The run is over (or never started). Called once. */
  end(result: TraceEnd): void;
}
