/**
 * OpenTelemetry for Bunker, built from the SDK's parts (the ones
 * @opentelemetry/sdk-node is made of) without NodeSDK's auto-instrumentation,
 * which patches Node modules Bun does not load, and without registering
 * global providers, so tests can build several side by side.
 *
 * Export happens only when an OTLP endpoint is configured
 * (OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT /
 * OTEL_EXPORTER_OTLP_METRICS_ENDPOINT); OTEL_SDK_DISABLED=true turns it off.
 * Headers, timeouts and the rest of the standard OTEL_EXPORTER_OTLP_*
 * variables are read by the exporters themselves. Prometheus text from the
 * same meter is always available (`/metrics`).
 */
import type { Attributes, Meter, Tracer } from "@opentelemetry/api";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, type MetricReader, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { InvocationTracer } from "../invoke/trace.ts";
import { OtelHttpTracer } from "./http.ts";
import { OtelInvocationTracer } from "./invocations.ts";
import { PrometheusReader } from "./prometheus.ts";
import type { EmitSpan } from "./stage-spans.ts";
import { type SpanRecord, StoreSpanProcessor } from "./store-spans.ts";

export interface OtlpTargets {
  /** Full URL of the traces endpoint (…/v1/traces). */
  traces?: string;
  /** Full URL of the metrics endpoint (…/v1/metrics). */
  metrics?: string;
  metricIntervalMs?: number;
}

/** The OTLP/HTTP targets the standard OTEL_* variables name; empty when export is off. */
export function otlpFromEnv(env: Record<string, string | undefined>): OtlpTargets {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === "true") return {};
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, "");
  const out: OtlpTargets = {};
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base}/v1/traces` : undefined);
  const metrics = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? (base ? `${base}/v1/metrics` : undefined);
  if (traces && env.OTEL_TRACES_EXPORTER !== "none") out.traces = traces;
  if (metrics && env.OTEL_METRICS_EXPORTER !== "none") out.metrics = metrics;
  const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
  if (Number.isFinite(interval) && interval > 0) out.metricIntervalMs = interval;
  return out;
}

export interface TelemetryOptions {
  serviceName?: string;
  serviceVersion?: string;
  otlp?: OtlpTargets;
  /** Where finished spans are recorded (the store's RecordWriter). */
  recordSpan?: (span: SpanRecord) => void;
}

export type GaugeCallback = () => number | ReadonlyArray<{ value: number; attributes?: Attributes }>;

export interface Telemetry {
  readonly tracer: Tracer;
  /** Server spans per HTTP request (the gateway's HttpTracer). */
  readonly http: OtelHttpTracer;
  readonly meter: Meter;
  readonly invocations: InvocationTracer;
  /** Prometheus exposition text of every metric. */
  metrics(): Promise<string>;
  /** Pool, queue and writer gauges: observed on every collection. */
  gauge(name: string, description: string, unit: string, read: GaugeCallback): void;
  /** Exports what is pending (OTLP) and stops. */
  shutdown(): Promise<void>;
  /** Exports pending spans and metrics now (tests, shutdown). */
  flush(): Promise<void>;
}

/**
 * Hands a finished stage span to the same processors the provider's spans
 * reach (see stage-spans.ts). A failing processor must not fail the invocation.
 */
function emitTo(processors: readonly SpanProcessor[]): EmitSpan {
  return (span) => {
    for (const p of processors) {
      try {
        p.onEnd(span);
      } catch {
        // Telemetry never breaks the traced code.
      }
    }
  };
}

export function createTelemetry(options: TelemetryOptions = {}): Telemetry {
  const resource = resourceFromAttributes({
    "service.name": options.serviceName ?? "bunker",
    ...(options.serviceVersion ? { "service.version": options.serviceVersion } : {}),
  });
  const spanProcessors: SpanProcessor[] = [];
  if (options.recordSpan) spanProcessors.push(new StoreSpanProcessor(options.recordSpan));
  if (options.otlp?.traces) {
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: options.otlp.traces })));
  }
  const tracerProvider = new BasicTracerProvider({
    resource,
    // A caller's "not sampled" is honoured; everything else is recorded.
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors,
  });
  const prometheus = new PrometheusReader();
  const readers: MetricReader[] = [prometheus];
  if (options.otlp?.metrics) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: options.otlp.metrics }),
        exportIntervalMillis: options.otlp.metricIntervalMs ?? 60_000,
      }),
    );
  }
  const meterProvider = new MeterProvider({ resource, readers });
  const tracer = tracerProvider.getTracer("bunker", options.serviceVersion);
  const meter = meterProvider.getMeter("bunker", options.serviceVersion);
  return {
    tracer,
    meter,
    invocations: new OtelInvocationTracer(tracer, meter, emitTo(spanProcessors)),
    http: new OtelHttpTracer(tracer),
    metrics: () => prometheus.text(),
    gauge(name, description, unit, read) {
      meter.createObservableGauge(name, { description, unit }).addCallback((result) => {
        const value = read();
        if (typeof value === "number") result.observe(value);
        else for (const point of value) result.observe(point.value, point.attributes);
      });
    },
    async flush() {
      await tracerProvider.forceFlush();
      await meterProvider.forceFlush();
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}
