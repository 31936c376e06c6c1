/**
 * Server spans for HTTP requests, named by route template once routing has
 * matched (`POST /function/:name`), with the stable HTTP semantic-convention
 * attributes. Structurally the gateway's HttpTracer; telemetry does not import
 * the gateway (imports point down).
 */
import { type Span, SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { contextFromTraceparent, traceparentOf } from "./invocations.ts";

export class OtelHttpTracer {
  constructor(private readonly tracer: Tracer) {}

  start(
    method: string,
    traceparent: string | null,
  ): { traceparent: string; end(route: string, status: number): void } {
    // A malformed caller header yields the root context: the span starts a new trace.
    const parent = contextFromTraceparent(traceparent ?? undefined);
    const span: Span = this.tracer.startSpan(
      method,
      { kind: SpanKind.SERVER, attributes: { "http.request.method": method } },
      parent,
    );
    return {
      traceparent: traceparentOf(span),
      end(route, status) {
        span.updateName(`${method} ${route}`);
        span.setAttribute("http.route", route);
        span.setAttribute("http.response.status_code", status);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    };
  }
}
