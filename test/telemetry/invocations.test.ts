/**
 * The invocation tracer without a server: stage spans made whole (stage-spans.ts)
 * against the SDK's own child spans, the store's copy against the exported
 * spans, a caller's "not sampled", and the wiring createTelemetry does.
 */
import { expect, test } from "bun:test";
import { type HrTime, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { InvocationTracer } from "../../src/invoke/trace.ts";
import {
  createTelemetry,
  OtelInvocationTracer,
  type SpanRecord,
  toSpanRecord,
} from "../../src/telemetry/index.ts";
import { ATTR, STAGES } from "../../src/telemetry/names.ts";
import { hrAdd, randomSpanId } from "../../src/telemetry/stage-spans.ts";
import { StoreSpanProcessor } from "../../src/telemetry/store-spans.ts";

interface Rig {
  tracer: InvocationTracer;
  exported: () => ReadableSpan[];
  stored: SpanRecord[];
}

/** A provider with an in-memory exporter and the store processor; `made` = stage spans made whole. */
function rig(made: boolean): Rig {
  const exporter = new InMemorySpanExporter();
  const stored: SpanRecord[] = [];
  const processors: SpanProcessor[] = [
    new SimpleSpanProcessor(exporter),
    new StoreSpanProcessor((r) => stored.push(r)),
  ];
  const provider = new BasicTracerProvider({ spanProcessors: processors });
  const meter = new MeterProvider().getMeter("test");
  const emit = (span: ReadableSpan) => {
    for (const p of processors) p.onEnd(span);
  };
  const tracer = new OtelInvocationTracer(provider.getTracer("bunker"), meter, made ? emit : undefined);
  return { tracer, exported: () => exporter.getFinishedSpans(), stored };
}

/** One cold invocation through every stage, at fixed offsets on the performance clock. */
function invoke(tracer: InvocationTracer, traceparent?: string) {
  const t0 = performance.now() - 50;
  const run = tracer.begin({
    id: "inv-1",
    function: "echo",
    mode: "sync",
    attempt: 1,
    startMs: t0,
    ...(traceparent ? { traceparent } : {}),
  });
  STAGES.forEach((stage, i) => {
    run.stage(stage, t0 + i * 2, t0 + i * 2 + 1.25);
  });
  const usage = { cpuUserMs: 1, cpuSystemMs: 1, memoryPeakBytes: 1, maxRssBytes: 1, pidsPeak: 1 };
  const outcome = { reason: "exited" as const, exitCode: 0, signal: null, wallMs: 1, usage };
  run.end({ status: "succeeded", outcome, pid: 42, warm: false, endMs: t0 + 20 });
  return run;
}

const ms = (t: HrTime) => t[0] * 1e3 + t[1] / 1e6;

function shape(spans: ReadableSpan[]) {
  const root = spans.find((s) => s.name === "echo");
  if (!root) throw new Error("no invocation span");
  const children = spans.filter((s) => s !== root);
  return {
    root,
    children: children.map((s) => ({
      name: s.name,
      kind: s.kind,
      attributes: s.attributes,
      status: s.status,
      parent: s.parentSpanContext?.spanId === root.spanContext().spanId,
      traceId: s.spanContext().traceId === root.spanContext().traceId,
      traceFlags: s.spanContext().traceFlags,
      resource: s.resource === root.resource,
      scope: s.instrumentationScope,
      links: s.links.length,
      events: s.events.length,
      ended: s.ended,
    })),
  };
}

test("stage spans made whole look to the processors exactly like the SDK's own children", () => {
  const made = rig(true);
  const sdk = rig(false);
  invoke(made.tracer);
  invoke(sdk.tracer);
  const a = shape(made.exported());
  const b = shape(sdk.exported());
  expect(a.children).toEqual(b.children);
  expect(a.children.map((c) => c.name)).toEqual([...STAGES]);
  expect(a.children[0]).toMatchObject({
    kind: SpanKind.INTERNAL,
    status: { code: SpanStatusCode.UNSET },
    attributes: { [ATTR.stage]: "admit", [ATTR.faasInvocationId]: "inv-1" },
    parent: true,
    traceId: true,
    resource: true,
  });
  expect(a.root.attributes).toEqual(b.root.attributes);
});

test("stage times are offsets from the invocation span's start, exact to the nanosecond", () => {
  const made = rig(true);
  invoke(made.tracer);
  const { root } = shape(made.exported());
  const children = made.exported().filter((s) => s !== root);
  children.forEach((s, i) => {
    expect(s.startTime).toEqual(hrAdd(root.startTime, i * 2));
    expect(s.endTime).toEqual(hrAdd(root.startTime, i * 2 + 1.25));
    expect(s.duration).toEqual([0, 1_250_000]);
  });
  // The SDK's children agree to within its own clock correction (Date.now() has 1 ms steps).
  const sdk = rig(false);
  invoke(sdk.tracer);
  const sdkShape = shape(sdk.exported());
  const sdkChildren = sdk.exported().filter((s) => s !== sdkShape.root);
  sdkChildren.forEach((s, i) => {
    expect(Math.abs(ms(s.startTime) - ms(sdkShape.root.startTime) - i * 2)).toBeLessThan(2);
  });
});

/**
 * Stored records as rows, by the rule the span_rows view applies in SQL
 * (db/schema.ts): each stage entry becomes a span under the row it is in.
 */
function asRows(stored: readonly SpanRecord[]): SpanRecord[] {
  const out: SpanRecord[] = [];
  for (const { stages, ...row } of stored) {
    out.push(row);
    for (const e of stages ?? []) {
      out.push({
        spanId: e.i,
        traceId: row.traceId,
        parentSpanId: row.spanId,
        invocationId: row.invocationId,
        name: e.n,
        startNs: BigInt(e.s),
        endNs: BigInt(e.e),
        attributes: e.a ?? { [ATTR.stage]: e.n, [ATTR.faasInvocationId]: row.invocationId },
      });
    }
  }
  return out;
}

const bySpanId = (a: SpanRecord, b: SpanRecord) => a.spanId.localeCompare(b.spanId);

test("the store records the very spans the exporter gets, the stages in their parent's row", () => {
  const made = rig(true);
  invoke(made.tracer);
  const exported = made.exported();
  expect(exported.length).toBe(STAGES.length + 1);
  // One record: the invocation span, holding its seven stages.
  expect(made.stored.length).toBe(1);
  expect(made.stored[0]?.stages?.map((e) => e.n)).toEqual([...STAGES]);
  expect(asRows(made.stored).sort(bySpanId)).toEqual(exported.map(toSpanRecord).sort(bySpanId));
  for (const s of asRows(made.stored)) expect(s.invocationId).toBe("inv-1");
});

test("a stage that ends after its parent, or carries other attributes, is stored whole", () => {
  const made = rig(true);
  const t0 = performance.now() - 50;
  const run = made.tracer.begin({ id: "inv-2", function: "echo", mode: "sync", attempt: 1, startMs: t0 });
  run.stage("spawn", t0, t0 + 1);
  run.end({ status: "succeeded", outcome: null, warm: true, endMs: t0 + 5 });
  run.stage("store", t0 + 5, t0 + 6);
  expect(made.stored.map((s) => s.name)).toEqual(["echo", "store"]);
  expect(made.stored[0]?.stages?.map((e) => e.n)).toEqual(["spawn"]);
  expect(asRows(made.stored).sort(bySpanId)).toEqual(made.exported().map(toSpanRecord).sort(bySpanId));

  const held: SpanRecord[] = [];
  const processor = new StoreSpanProcessor((r) => held.push(r));
  const other = rig(true);
  const run3 = other.tracer.begin({ id: "inv-3", function: "echo", mode: "sync", attempt: 1, startMs: t0 });
  run3.stage("spawn", t0, t0 + 1);
  run3.end({ status: "succeeded", outcome: null, warm: true, endMs: t0 + 5 });
  const root = other.exported().find((s) => s.name === "echo");
  const stage = other.exported().find((s) => s.name === "spawn");
  if (!root || !stage) throw new Error("missing spans");
  // The same stage, but with an attribute of its own: the entry keeps all of them.
  const extra = Object.assign(Object.create(Object.getPrototypeOf(stage)), stage, {
    attributes: { ...stage.attributes, note: "x" },
    parent: { ended: false },
  });
  processor.onEnd(extra);
  processor.onEnd(root);
  expect(held[0]?.stages?.[0]?.a).toEqual({ ...stage.attributes, note: "x" });
});

test("stages still held at shutdown are written as rows, not lost", async () => {
  const held: SpanRecord[] = [];
  const processor = new StoreSpanProcessor((r) => held.push(r));
  const made = rig(true);
  const t0 = performance.now() - 50;
  const run = made.tracer.begin({ id: "inv-4", function: "echo", mode: "sync", attempt: 1, startMs: t0 });
  run.stage("spawn", t0, t0 + 1);
  const stage = made.exported().find((s) => s.name === "spawn");
  if (!stage) throw new Error("no stage span");
  processor.onEnd(stage);
  expect(held).toEqual([]);
  await processor.shutdown();
  expect(held.map((s) => s.name)).toEqual(["spawn"]);
  run.end({ status: "succeeded", outcome: null, warm: true, endMs: t0 + 5 });
});

test("a caller that does not sample gets no spans, stored or exported, and its flag passed on", () => {
  const made = rig(true);
  const run = invoke(made.tracer, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
  expect(run.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
  expect(run.traceparent.endsWith("-00")).toBe(true);
  expect(made.exported()).toEqual([]);
  expect(made.stored).toEqual([]);
});

test("createTelemetry hands stage spans to the store like any other span", async () => {
  const stored: SpanRecord[] = [];
  const telemetry = createTelemetry({ recordSpan: (r) => stored.push(r) });
  const run = invoke(telemetry.invocations, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  const root = stored.find((s) => s.name === "echo");
  expect(root?.parentSpanId).toBe("b7ad6b7169203331");
  expect(root?.traceId).toBe(run.traceId);
  const children = asRows(stored)
    .filter((s) => s.parentSpanId === root?.spanId)
    .map((s) => s.name);
  expect(children).toEqual([...STAGES]);
  expect(await telemetry.metrics()).toMatch(
    /faas_invocations_total\{faas_invoked_name="echo",faas_trigger="http"[^}]*\} 1\n/,
  );
  await telemetry.shutdown();
});

test("span ids are 16 hex digits", () => {
  for (let i = 0; i < 1000; i++) expect(randomSpanId()).toMatch(/^[0-9a-f]{16}$/);
});
