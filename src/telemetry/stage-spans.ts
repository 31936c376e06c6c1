/**
 * Child spans of an invocation, built whole once the stage is over. A stage
 * is reported after the fact (start and end on the performance clock), so
 * none of the SDK's live-span machinery has work to do: no sampling (a child
 * follows its recording parent), no limits (two known attributes), no clock
 * correction (times are offsets from the parent's start). Through
 * `tracer.startSpan`, the ~7 stages of an invocation cost the event loop about
 * 40 µs in the recording benchmark; made whole here, about half that. It is a
 * plain object handed to the same span processors, so OTLP and the store see
 * what they saw before, down to the field (test/telemetry/invocations.test.ts).
 */
import {
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  SpanKind,
  type SpanStatus,
  SpanStatusCode,
} from "@opentelemetry/api";
import type { ReadableSpan, TimedEvent } from "@opentelemetry/sdk-trace-base";

/** Where ended spans go: the tracer provider's span processors. */
export type EmitSpan = (span: ReadableSpan) => void;

const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const NO_LINKS: Link[] = Object.freeze([]) as unknown as Link[];
const NO_EVENTS: TimedEvent[] = Object.freeze([]) as unknown as TimedEvent[];

export class StageSpan implements ReadableSpan {
  readonly kind = SpanKind.INTERNAL;
  readonly status = UNSET;
  readonly links = NO_LINKS;
  readonly events = NO_EVENTS;
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly resource: ReadableSpan["resource"];
  readonly instrumentationScope: ReadableSpan["instrumentationScope"];
  readonly parentSpanContext: SpanContext;

  constructor(
    /** The live parent: the store holds a stage until the parent has `ended` (store-spans.ts). */
    readonly parent: ReadableSpan,
    readonly name: string,
    readonly startTime: HrTime,
    readonly endTime: HrTime,
    readonly attributes: Attributes,
    private readonly context: SpanContext,
  ) {
    this.resource = parent.resource;
    this.instrumentationScope = parent.instrumentationScope;
    this.parentSpanContext = parent.spanContext();
  }

  spanContext(): SpanContext {
    return this.context;
  }

  get duration(): HrTime {
    return hrDiff(this.startTime, this.endTime);
  }
}

/**
 * A stage from `startMs` to `endMs` (performance clock) under `parent`, whose
 * own start was `parentStartMs` on that clock: its times are the parent's
 * start time plus the offset, so children line up with their parent exactly.
 */
export function stageSpan(
  parent: ReadableSpan,
  parentStartMs: number,
  name: string,
  startMs: number,
  endMs: number,
  attributes: Attributes,
): StageSpan {
  const parentCtx = parent.spanContext();
  const context: SpanContext = {
    traceId: parentCtx.traceId,
    spanId: randomSpanId(),
    traceFlags: parentCtx.traceFlags,
  };
  if (parentCtx.traceState !== undefined) context.traceState = parentCtx.traceState;
  const start = hrAdd(parent.startTime, Math.max(0, startMs - parentStartMs));
  const end = hrAdd(parent.startTime, Math.max(0, endMs - parentStartMs));
  return new StageSpan(parent, name, start, hrBefore(end, start) ? start : end, attributes, context);
}

/** True for the SDK's own spans, the only parents whose times and resource a stage can borrow. */
export function isReadableSpan(span: unknown): span is ReadableSpan {
  const s = span as Partial<ReadableSpan> | null;
  return typeof s === "object" && s !== null && Array.isArray(s.startTime) && s.resource !== undefined;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
/** Random bytes fetched 4 KiB at a time: one getRandomValues call per 512 ids. */
const pool = new Uint8Array(4096);
let poolAt = pool.length;

/** 16 hex digits of cryptographic randomness, never all zero (an invalid span id). */
export function randomSpanId(): string {
  if (poolAt >= pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  const b = pool;
  const i = poolAt;
  poolAt += 8;
  const id =
    `${HEX[b[i] ?? 0]}${HEX[b[i + 1] ?? 0]}${HEX[b[i + 2] ?? 0]}${HEX[b[i + 3] ?? 0]}` +
    `${HEX[b[i + 4] ?? 0]}${HEX[b[i + 5] ?? 0]}${HEX[b[i + 6] ?? 0]}${HEX[b[i + 7] ?? 0]}`;
  return id === "0000000000000000" ? randomSpanId() : id;
}

/** `t` plus a non-negative number of milliseconds, in [seconds, nanoseconds]. */
export function hrAdd(t: HrTime, ms: number): HrTime {
  const addNs = Math.round(ms * 1e6);
  let s = t[0] + Math.floor(addNs / 1e9);
  let ns = t[1] + (addNs % 1e9);
  if (ns >= 1e9) {
    s += 1;
    ns -= 1e9;
  }
  return [s, ns];
}

function hrBefore(a: HrTime, b: HrTime): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

function hrDiff(start: HrTime, end: HrTime): HrTime {
  let s = end[0] - start[0];
  let ns = end[1] - start[1];
  if (ns < 0) {
    s -= 1;
    ns += 1e9;
  }
  return [s, ns];
}
