/**
 * The invoke layer's tracer seam, implemented with OpenTelemetry: one span per
 * invocation (FaaS semantic conventions), a child span per stage, and the
 * FaaS metrics recorded when the run ends.
 */
import {
  type Attributes,
  type Context,
  type Meter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { InvocationTrace, InvocationTracer, TraceEnd, TraceStart } from "../invoke/trace.ts";
import { ATTR, type FaasTrigger, METRICS } from "./names.ts";
import { type EmitSpan, isReadableSpan, stageSpan } from "./stage-spans.ts";

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The caller's context from a W3C traceparent; the root context when absent or malformed. */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim().toLowerCase());
  if (!m || m[1] === "ff" || /^0+$/.test(m[2] ?? "") || /^0+$/.test(m[3] ?? "")) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: m[2] ?? "",
    spanId: m[3] ?? "",
    traceFlags: Number.parseInt(m[4] ?? "0", 16) & 1,
    isRemote: true,
  });
}

export function traceparentOf(span: Span): string {
  const ctx = span.spanContext();
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.traceFlags & 1).toString(16).padStart(2, "0")}`;
}

export function triggerOf(mode: TraceStart["mode"], trigger?: TraceStart["trigger"]): FaasTrigger {
  if (trigger === "cron") return "timer";
  return mode === "async" ? "pubsub" : "http";
}

export interface FaasInstruments {
  record(end: TraceEnd, start: TraceStart, initMs: number | undefined, attrs: Attributes): void;
}

export function faasInstruments(meter: Meter): FaasInstruments {
  const invocations = meter.createCounter(METRICS.invocations, {
    description: "Number of invocations",
    unit: "{invocation}",
  });
  const errors = meter.createCounter(METRICS.errors, {
    description: "Number of invocation errors",
    unit: "{error}",
  });
  const timeouts = meter.createCounter(METRICS.timeouts, {
    description: "Number of invocation timeouts",
    unit: "{timeout}",
  });
  const coldstarts = meter.createCounter(METRICS.coldstarts, {
    description: "Number of invocation cold starts",
    unit: "{coldstart}",
  });
  const invokeDuration = meter.createHistogram(METRICS.invokeDuration, {
    description: "Time from the start of the invocation to its end",
    unit: "s",
  });
  const initDuration = meter.createHistogram(METRICS.initDuration, {
    description: "Time spent starting the task (prepare root, spawn)",
    unit: "s",
  });
  const memUsage = meter.createHistogram(METRICS.memUsage, {
    description: "Peak memory of the invocation's cgroup",
    unit: "By",
  });
  const cpuUsage = meter.createHistogram(METRICS.cpuUsage, {
    description: "CPU time (user + system) used by the invocation",
    unit: "s",
  });
  return {
    record(end, start, initMs, attrs) {
      invocations.add(1, attrs);
      // A cold start: no ready pool slot was there (or the task never started).
      if (end.warm !== true) coldstarts.add(1, attrs);
      if (end.status === "timeout") timeouts.add(1, attrs);
      else if (end.status !== "succeeded" && end.status !== "cancelled") errors.add(1, attrs);
      invokeDuration.record(Math.max(0, end.endMs - start.startMs) / 1000, attrs);
      if (initMs !== undefined) initDuration.record(initMs / 1000, attrs);
      const usage = end.outcome?.usage;
      if (usage) {
        if (usage.memoryPeakBytes > 0) memUsage.record(usage.memoryPeakBytes, attrs);
        cpuUsage.record((usage.cpuUserMs + usage.cpuSystemMs) / 1000, attrs);
      }
    },
  };
}

/** Stages that make up `faas.init_duration`: everything between admission and the task running. */
const INIT_STAGES = new Set(["prepare root", "prepare", "spawn"]);

export class OtelInvocationTracer implements InvocationTracer {
  readonly #tracer: Tracer;
  readonly #metrics: FaasInstruments;
  readonly #emit: EmitSpan | undefined;

  /**
   * `emit` hands a finished stage span to the provider's span processors (see
   * stage-spans.ts); without it, stages go through `tracer.startSpan` like
   * any other span.
   */
  constructor(tracer: Tracer, meter: Meter, emit?: EmitSpan) {
    this.#tracer = tracer;
    this.#metrics = faasInstruments(meter);
    this.#emit = emit;
  }

  begin(run: TraceStart): InvocationTrace {
    const parent = contextFromTraceparent(run.traceparent);
    const trigger = triggerOf(run.mode, run.trigger);
    const attributes: Attributes = {
      [ATTR.faasTrigger]: trigger,
      [ATTR.faasInvokedName]: run.function,
      [ATTR.faasInvocationId]: run.id,
    };
    if (run.attributes) Object.assign(attributes, run.attributes);
    attributes[ATTR.attempt] = run.attempt;
    const span = this.#tracer.startSpan(
      run.function,
      { kind: SpanKind.SERVER, startTime: run.startMs, attributes },
      parent,
    );
    const stages = this.#stages(span, parent, run);
    const metricAttrs = metricAttributes(run.function, trigger);
    const metrics = this.#metrics;
    let initMs: number | undefined;
    let ended = false;
    const ctx = span.spanContext();
    return {
      traceparent: traceparentOf(span),
      traceId: ctx.traceId,
      stage(name, startMs, endMs) {
        if (INIT_STAGES.has(name)) initMs = (initMs ?? 0) + Math.max(0, endMs - startMs);
        stages?.(name, startMs, endMs);
      },
      end(result) {
        if (ended) return;
        ended = true;
        if (result.pid !== undefined) span.setAttribute(ATTR.processPid, result.pid);
        span.setAttribute(ATTR.faasColdstart, result.warm !== true);
        if (result.outcome) span.setAttribute(ATTR.processExitCode, result.outcome.exitCode);
        if (result.status !== "succeeded") {
          span.setAttribute(ATTR.errorType, errorType(result));
          span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? result.status });
        }
        span.end(result.endMs);
        metrics.record(result, run, initMs, metricAttrs);
      },
    };
  }

  /** How this invocation's stages become child spans; undefined when its span is not recorded. */
  #stages(span: Span, parent: Context, run: TraceStart): StageRecorder | undefined {
    if (!span.isRecording()) return undefined;
    const emit = this.#emit;
    if (emit && isReadableSpan(span)) {
      return (name, startMs, endMs) => {
        const attributes = { [ATTR.stage]: name, [ATTR.faasInvocationId]: run.id };
        emit(stageSpan(span, run.startMs, name, startMs, endMs, attributes));
      };
    }
    const tracer = this.#tracer;
    const ctx = trace.setSpan(parent, span);
    return (name, startMs, endMs) => {
      const attributes = { [ATTR.stage]: name, [ATTR.faasInvocationId]: run.id };
      tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime: startMs, attributes }, ctx).end(endMs);
    };
  }
}

type StageRecorder = (name: string, startMs: number, endMs: number) => void;

/**
 * One attribute object per (function, trigger), reused by every data point:
 * the metrics SDK keys its series by these attributes, and a fresh object per
 * call is garbage on every invocation. Bounded like the series themselves.
 */
const metricAttrCache = new Map<string, Attributes>();

function metricAttributes(fn: string, trigger: FaasTrigger): Attributes {
  const key = `${trigger} ${fn}`;
  let attrs = metricAttrCache.get(key);
  if (!attrs) {
    attrs = Object.freeze({ [ATTR.faasInvokedName]: fn, [ATTR.faasTrigger]: trigger });
    if (metricAttrCache.size >= 10_000) metricAttrCache.clear();
    metricAttrCache.set(key, attrs);
  }
  return attrs;
}

/** `error.type`: the termination reason when the task ran, else the invocation status. */
function errorType(end: TraceEnd): string {
  if (end.status === "timeout") return "timeout";
  if (end.outcome && end.outcome.reason !== "exited") return end.outcome.reason;
  if (end.outcome) return "exit_code";
  return end.status;
}
