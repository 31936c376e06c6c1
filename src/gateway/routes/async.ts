import { type Context, Hono } from "hono";
import { readBody } from "../body.ts";
import type { GatewayDeps } from "../deps.ts";
import type { AuthEnv } from "../middleware/auth.ts";
import { ProblemError } from "../problem.ts";
import { invokeEnv, resolveInvocable, subPath } from "./function.ts";

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function callbackUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ProblemError("bad_request", `X-Callback-Url is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProblemError("bad_request", `X-Callback-Url must be http or https, got ${url.protocol}`);
  }
  return url.href;
}

/** POST /async-function/{name}[/*]: 202 + X-Call-Id + Location; the result goes to X-Callback-Url. */
export function asyncRoutes(deps: GatewayDeps): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const handler = async (c: Context<AuthEnv>) => {
    const name = c.req.param("name") ?? "";
    const fn = resolveInvocable(deps, c, name);
    const key = c.req.header("idempotency-key");
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new ProblemError("bad_request", "Idempotency-Key must be 1-255 visible ASCII characters");
    }
    const cb = callbackUrl(c.req.header("x-callback-url"));
    deps.invoker.checkHealth();
    const body = await readBody(c.req.raw, fn.maxBodyBytes);
    const { id, replayed } = await deps.async.submit({
      fn,
      body,
      env: invokeEnv(c, subPath(c, "async-function", name)),
      ...(cb === undefined ? {} : { callbackUrl: cb }),
      ...(key === undefined ? {} : { idempotencyKey: key }),
    });
    const location = `/system/invocations/${id}`;
    const headers: Record<string, string> = { "X-Call-Id": id, Location: location };
    if (replayed) headers["Idempotent-Replayed"] = "true";
    return c.json({ id, function: fn.name, location, replayed }, 202, headers);
  };
  app.post("/:name", handler);
  app.post("/:name/*", handler);
  return app;
}
