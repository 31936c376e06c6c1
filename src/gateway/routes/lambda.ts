import { Hono } from "hono";
import type { RunResult } from "../../invoke/invoker.ts";
import { collect } from "../../invoke/streams.ts";
import { readBody } from "../body.ts";
import type { GatewayDeps } from "../deps.ts";
import type { AuthEnv } from "../middleware/auth.ts";
import { ProblemError } from "../problem.ts";
import { invokeEnv, resolveInvocable } from "./function.ts";

const LOG_TAIL_BYTES = 4096;

function functionError(
  name: string,
  timeoutMs: number,
  r: RunResult,
): { errorMessage: string; errorType: string } {
  if (r.status === "timeout") {
    return {
      errorMessage: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
      errorType: "Sandbox.Timedout",
    };
  }
  if (r.outputTooLarge)
    return { errorMessage: r.error ?? "output too large", errorType: "Function.ResponseSizeTooLarge" };
  if (r.status === "error")
    return { errorMessage: r.error ?? "setup failed", errorType: "Runtime.SetupFailed" };
  const code = r.outcome?.exitCode ?? -1;
  return { errorMessage: `function "${name}" exited with code ${code}`, errorType: "Runtime.ExitError" };
}

/**
 * AWS Lambda Invoke: POST /2015-03-31/functions/{name}/invocations. RequestResponse is
 * buffered (as Lambda does); a failing run answers 200 with X-Amz-Function-Error like Lambda.
 */
export function lambdaRoutes(deps: GatewayDeps): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.post("/functions/:name/invocations", async (c) => {
    const fn = resolveInvocable(deps, c, c.req.param("name"));
    const type = c.req.header("x-amz-invocation-type") ?? "RequestResponse";
    if (type !== "RequestResponse" && type !== "Event" && type !== "DryRun") {
      throw new ProblemError(
        "bad_request",
        `X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, got "${type}"`,
      );
    }
    deps.invoker.checkHealth();
    const body = await readBody(c.req.raw, fn.maxBodyBytes);
    if (type === "DryRun") return c.body(null, 204);
    const env = invokeEnv(c, "/");
    if (type === "Event") {
      const { id } = await deps.async.submit({ fn, body, env });
      return c.body(null, 202, {
        "X-Call-Id": id,
        "X-Amzn-RequestId": id,
        Location: `/system/invocations/${id}`,
      });
    }
    const running = await deps.invoker.start({ fn, mode: "sync", env, stdin: body });
    const output = await collect(running.stdout);
    const r = await running.result;
    const headers: Record<string, string> = {
      "X-Call-Id": running.id,
      "X-Amzn-RequestId": running.id,
      "X-Amz-Executed-Version": "$LATEST",
      "X-Duration-Seconds": (r.durationMs / 1000).toFixed(3),
    };
    if (r.outcome) headers["X-Function-Exit-Code"] = String(r.outcome.exitCode);
    if (c.req.header("x-amz-log-type") === "Tail") {
      const tail = r.stderrTail.subarray(Math.max(0, r.stderrTail.byteLength - LOG_TAIL_BYTES));
      headers["X-Amz-Log-Result"] = Buffer.from(tail).toString("base64");
    }
    if (r.status === "succeeded") {
      return new Response(output, { status: 200, headers: { ...headers, "Content-Type": fn.contentType } });
    }
    if (r.bodyTooLarge) throw new ProblemError("body_too_large", r.error ?? "request body too large");
    headers["X-Amz-Function-Error"] = "Unhandled";
    return c.json(functionError(fn.name, fn.timeoutMs, r), 200, headers);
  });
  return app;
}
