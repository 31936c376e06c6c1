/**
 * Prometheus text from the same MeterProvider as OTLP: a pull-only
 * MetricReader collected on each /metrics request and serialised with the
 * Prometheus exporter's serializer, without starting its HTTP server.
 */
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { AggregationTemporality, MetricReader } from "@opentelemetry/sdk-metrics";

export class PrometheusReader extends MetricReader {
  readonly #serializer = new PrometheusSerializer();

  constructor() {
    // Prometheus expects running totals.
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }

  /** The exposition text of everything the meter provider holds now. */
  async text(): Promise<string> {
    const { resourceMetrics } = await this.collect();
    return this.#serializer.serialize(resourceMetrics);
  }

  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}
