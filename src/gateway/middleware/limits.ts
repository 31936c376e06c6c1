import type { MiddlewareHandler } from "hono";
import { ProblemError } from "../problem.ts";

/** 431 when the request's headers are larger than `maxBytes` in all or more than `maxCount`. */
export function headerLimit(opts: { maxBytes: number; maxCount: number }): MiddlewareHandler {
  return async (c, next) => {
    let bytes = 0;
    let count = 0;
    c.req.raw.headers.forEach((value, name) => {
      bytes += name.length + value.length + 4;
      count++;
    });
    if (bytes > opts.maxBytes || count > opts.maxCount) {
      throw new ProblemError(
        "headers_too_large",
        `request headers are ${bytes} bytes in ${count} fields; the limit is ${opts.maxBytes} bytes and ${opts.maxCount} fields`,
      );
    }
    await next();
  };
}
