import type { MiddlewareHandler } from "hono";
import type { HttpTracer } from "../deps.ts";
import type { AuthEnv } from "./auth.ts";

/**
 * A server span per request, named `METHOD /route/:template` once routing has
 * matched (OpenTelemetry's HTTP conventions: low-cardinality names). Its
 * traceparent replaces the caller's for what the request starts, so an
 * invocation span nests under the request that caused it.
 */
export function httpSpans(tracer: HttpTracer): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const span = tracer.start(c.req.method, c.req.header("traceparent") ?? null);
    c.set("traceparent", span.traceparent);
    try {
      await next();
    } finally {
      span.end(c.req.routePath, c.res.status);
    }
  };
}
