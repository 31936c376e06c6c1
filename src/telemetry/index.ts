/** Telemetry's public surface: handed to the invoke layer and the gateway by the composition root. */
export { contextFromTraceparent, OtelInvocationTracer, traceparentOf } from "./invocations.ts";
export { ATTR, METRICS, STAGES } from "./names.ts";
export { PrometheusReader } from "./prometheus.ts";
export {
  createTelemetry,
  type GaugeCallback,
  type OtlpTargets,
  otlpFromEnv,
  type Telemetry,
  type TelemetryOptions,
} from "./setup.ts";
export { type SpanRecord, StoreSpanProcessor, toSpanRecord } from "./store-spans.ts";
