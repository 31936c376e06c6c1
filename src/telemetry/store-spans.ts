/**
 * Hands every finished span to the store, so the spans in Postgres are the
 * very ones exported by OTLP (same ids, times and attributes). onEnd only
 * pushes a row into the RecordWriter's buffer: no I/O on the span's path.
 *
 * An invocation's stage spans (stage-spans.ts) end before it does; they are
 * held until their parent ends and stored in its row, one compact entry
 * each (`stages`; db/schema.ts has the view that reads them back as rows).
 * Seven rows less per invocation was most of what recording cost the
 * database. A stage whose parent has already ended is stored as a row of
 * its own, as is everything else.
 */
import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { StageEntry } from "../../db/schema.ts";
import { ATTR } from "./names.ts";
import { StageSpan } from "./stage-spans.ts";

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
  stages?: StageEntry[] | null;
}

export function hrToNs(t: readonly [number, number]): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

/** The same as hrToNs, as a decimal string, without a BigInt. */
function hrToDecimal(t: readonly [number, number]): string {
  const ns = String(t[1]).padStart(9, "0");
  return t[0] === 0 ? String(t[1]) : `${t[0]}${ns}`;
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

/** A stage as an entry of its parent's row; its attributes are left out when the view can rebuild them. */
function toStageEntry(stage: ReadableSpan, parentInvocationId: string | null): StageEntry {
  const entry: StageEntry = {
    i: stage.spanContext().spanId,
    n: stage.name,
    s: hrToDecimal(stage.startTime),
    e: hrToDecimal(stage.endTime),
  };
  if (!impliedAttributes(stage, parentInvocationId)) entry.a = { ...stage.attributes };
  return entry;
}

/** True when a stage's attributes are exactly {bunker.stage: its name, faas.invocation_id: its parent's}. */
function impliedAttributes(stage: ReadableSpan, parentInvocationId: string | null): boolean {
  const a = stage.attributes;
  let keys = 0;
  for (const _ in a) keys += 1;
  return keys === 2 && a[ATTR.stage] === stage.name && a[ATTR.faasInvocationId] === parentInvocationId;
}

/** Parents whose stages wait at most; past it the oldest wait is written as rows (nothing is dropped). */
const MAX_WAITING = 4096;

export class StoreSpanProcessor implements SpanProcessor {
  readonly #write: (span: SpanRecord) => void;
  /** Stages by their parent's span id, until the parent ends. */
  readonly #waiting = new Map<string, StageSpan[]>();

  constructor(write: (span: SpanRecord) => void) {
    this.#write = write;
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    try {
      if (span instanceof StageSpan && !span.parent.ended) {
        this.#hold(span);
        return;
      }
      const record = toSpanRecord(span);
      const stages = this.#waiting.get(record.spanId);
      if (stages) {
        this.#waiting.delete(record.spanId);
        record.stages = stages.map((s) => toStageEntry(s, record.invocationId));
      }
      this.#write(record);
    } catch {
      // Recording must never break the traced code.
    }
  }

  #hold(stage: StageSpan): void {
    const parentId = stage.parentSpanContext.spanId;
    const held = this.#waiting.get(parentId);
    if (held) {
      held.push(stage);
      return;
    }
    if (this.#waiting.size >= MAX_WAITING) this.#release(this.#waiting.keys().next().value as string);
    this.#waiting.set(parentId, [stage]);
  }

  /** Writes a parent's held stages as rows of their own. */
  #release(parentId: string): void {
    const held = this.#waiting.get(parentId) ?? [];
    this.#waiting.delete(parentId);
    for (const stage of held) this.#write(toSpanRecord(stage));
  }

  async forceFlush(): Promise<void> {
    for (const parentId of [...this.#waiting.keys()]) this.#release(parentId);
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
  }
}
