/**
 * Hands every finished span to the store, so the spans in Postgres are the
 * very ones exported by OTLP (same ids, times and attributes). onEnd only
 * pushes a row into the RecordWriter's buffer: no I/O on the span's path.
 */
import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ATTR } from "./names.ts";

/** The shape of a stored span (the store's NewSpan), declared here so telemetry does not import the store. */
export interface SpanRecord {
  spanId: string;
  traceId: string;
  parentSpanId: string | null;
  invocationId: string | null;
  name: string;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
}

export function hrToNs(t: readonly [number, number]): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

export function toSpanRecord(span: ReadableSpan): SpanRecord {
  const ctx = span.spanContext();
  const invocation = span.attributes[ATTR.faasInvocationId];
  return {
    spanId: ctx.spanId,
    traceId: ctx.traceId,
    parentSpanId: span.parentSpanContext?.spanId ?? null,
    invocationId: typeof invocation === "string" ? invocation : null,
    name: span.name,
    startNs: hrToNs(span.startTime),
    endNs: hrToNs(span.endTime),
    attributes: { ...span.attributes },
  };
}

export class StoreSpanProcessor implements SpanProcessor {
  readonly #write: (span: SpanRecord) => void;

  constructor(write: (span: SpanRecord) => void) {
    this.#write = write;
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    try {
      this.#write(toSpanRecord(span));
    } catch {
      // Recording must never break the traced code.
    }
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
