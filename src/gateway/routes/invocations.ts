import { Hono } from "hono";
import type { z } from "zod";
import { ValidationError } from "../../errors.ts";
import { zodIssues } from "../../functions/issues.ts";
import { readDocument } from "../body.ts";
import type { GatewayDeps } from "../deps.ts";
import { type AuthEnv, requireScope } from "../middleware/auth.ts";
import { InvocationQuerySchema, SignalRequestSchema } from "../schemas.ts";

function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new ValidationError(`invalid ${what}`, zodIssues(r.error));
  return r.data;
}

/** /system/invocations: list, read, cancel, signal (invoke scope). */
export function invocationRoutes(deps: GatewayDeps, maxBody: number): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.use("*", requireScope("invoke"));
  app.get("/", (c) => {
    const q = parse(InvocationQuerySchema, c.req.query(), "query");
    const list = deps.invocations.list({
      ...(q.function === undefined ? {} : { function: q.function }),
      ...(q.status === undefined ? {} : { status: q.status }),
      limit: q.limit,
    });
    return c.json({ invocations: list });
  });
  app.get("/:id", (c) => c.json(deps.invocations.get(c.req.param("id"))));
  app.delete("/:id", async (c) => c.json(await deps.invocations.cancel(c.req.param("id")), 202));
  app.post("/:id/signal", async (c) => {
    const body = parse(SignalRequestSchema, await readDocument(c.req.raw, maxBody), "signal request");
    const record = deps.invocations.signal(c.req.param("id"), body.signal, body.scope);
    return c.json(record, 202);
  });
  return app;
}
