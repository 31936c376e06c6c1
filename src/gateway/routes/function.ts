import { type Context, Hono } from "hono";
import type { FunctionSpec } from "../../functions/spec.ts";
import type { Running, RunResult } from "../../invoke/invoker.ts";
import { checkContentLength } from "../body.ts";
import { cgiEnv, traceparent } from "../cgi.ts";
import type { GatewayDeps, GatewayLimits } from "../deps.ts";
import { type AuthEnv, assertScope } from "../middleware/auth.ts";
import { makeProblem, type Problem, problemResponse } from "../problem.ts";

/** Resolves a function and checks the invoke scope unless the function is public. */
export function resolveInvocable(deps: GatewayDeps, c: Context<AuthEnv>, name: string): FunctionSpec {
  const fn = deps.functions.get(name);
  if (!fn) {
    // Unknown and forbidden look the same to a caller without a token.
    assertScope(c, "invoke");
    return deps.functions.require(name);
  }
  if (!fn.public) assertScope(c, "invoke");
  return fn;
}

/** The path below `/<route>/<name>` (Http_Path), "/" when there is none. */
export function subPath(c: Context<AuthEnv>, route: string, name: string): string {
  const prefix = `/${route}/${name}`;
  return c.req.path.length > prefix.length ? c.req.path.slice(prefix.length) : "/";
}

/** CGI env plus TRACEPARENT: the request's server span when traced, else the caller's (or a fresh one). */
export function invokeEnv(c: Context<AuthEnv>, path: string): Record<string, string> {
  return { ...cgiEnv(c.req.raw, path), TRACEPARENT: c.get("traceparent") ?? traceparent(c.req.raw) };
}

function resultHeaders(id: string, r: RunResult | undefined): Record<string, string> {
  const h: Record<string, string> = { "X-Call-Id": id };
  if (r) {
    h["X-Duration-Seconds"] = (r.durationMs / 1000).toFixed(3);
    if (r.outcome) h["X-Function-Exit-Code"] = String(r.outcome.exitCode);
  }
  return h;
}

/** The problem for a run that did not succeed (null when it did). */
export function resultProblem(fn: FunctionSpec, r: RunResult, instance: string): Problem | null {
  const where = { instance };
  const exit = r.outcome ? { exit_code: r.outcome.exitCode, reason: r.outcome.reason } : {};
  const stderrTail = new TextDecoder().decode(r.stderrTail);
  if (r.status === "succeeded") return null;
  if (r.bodyTooLarge)
    return makeProblem("body_too_large", r.error ?? "", { ...where, limit: fn.maxBodyBytes });
  if (r.outputTooLarge)
    return makeProblem("output_too_large", r.error ?? "", { ...where, limit: fn.maxOutputBytes });
  if (r.status === "timeout") {
    return makeProblem(
      "function_timeout",
      `function "${fn.name}" ran longer than its timeout of ${fn.timeoutMs} ms`,
      {
        ...where,
        timeout_ms: fn.timeoutMs,
        ...exit,
        stderr_tail: stderrTail,
      },
    );
  }
  if (r.status === "cancelled") {
    return makeProblem("invocation_cancelled", `the invocation of "${fn.name}" was cancelled`, {
      ...where,
      ...exit,
    });
  }
  if (r.status === "error") {
    return makeProblem("setup_failed", r.error ?? `function "${fn.name}" could not be started`, {
      ...where,
      ...exit,
      stderr_tail: stderrTail,
    });
  }
  const how = r.outcome?.signal
    ? `was killed by signal ${r.outcome.signal}`
    : `exited with code ${r.outcome?.exitCode}`;
  return makeProblem("function_failed", `function "${fn.name}" ${how}`, {
    ...where,
    ...exit,
    stderr_tail: stderrTail,
  });
}

/**
 * Buffers stdout until the task ends or `streamAfterBytes` arrive. Ended: the status reflects
 * the result (200 / 500 / 504 / 413 / 502). Still running with more output: commit to 200 and
 * stream; a later failure aborts the body (the client sees a truncated response).
 */
async function respond(
  fn: FunctionSpec,
  running: Running,
  limits: GatewayLimits,
  instance: string,
  method: string,
): Promise<Response> {
  const reader = running.stdout.getReader();
  const head: Uint8Array[] = [];
  let headBytes = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) {
      const result = await running.result;
      const headers = resultHeaders(running.id, result);
      const problem = resultProblem(fn, result, instance);
      if (problem) return problemResponse(problem, headers);
      const body = method === "HEAD" ? null : Buffer.concat(head);
      return new Response(body, { status: 200, headers: { ...headers, "Content-Type": fn.contentType } });
    }
    head.push(r.value);
    headBytes += r.value.byteLength;
    if (headBytes >= limits.streamAfterBytes) break;
  }
  const body = new ReadableStream<Uint8Array>(
    {
      start(ctl) {
        for (const chunk of head) ctl.enqueue(chunk);
      },
      async pull(ctl) {
        const r = await reader.read();
        if (!r.done) return ctl.enqueue(r.value);
        const result = await running.result;
        if (result.status === "succeeded") ctl.close();
        else
          ctl.error(new Error(`function "${fn.name}" ${result.status}: ${result.error ?? "see X-Call-Id"}`));
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, {
    status: 200,
    headers: { ...resultHeaders(running.id, undefined), "Content-Type": fn.contentType },
  });
}

export function functionRoutes(deps: GatewayDeps, limits: GatewayLimits): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const handler = async (c: Context<AuthEnv>) => {
    const name = c.req.param("name") ?? "";
    const fn = resolveInvocable(deps, c, name);
    deps.invoker.checkHealth();
    checkContentLength(c.req.raw, fn.maxBodyBytes);
    const hasBody = c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.raw.body !== null;
    const running = await deps.invoker.start({
      fn,
      mode: "sync",
      env: invokeEnv(c, subPath(c, "function", name)),
      stdin: hasBody ? c.req.raw.body : null,
    });
    c.req.raw.signal.addEventListener("abort", () => void running.cancel(), { once: true });
    return respond(fn, running, limits, c.req.path, c.req.method);
  };
  app.all("/:name", handler);
  app.all("/:name/*", handler);
  return app;
}
