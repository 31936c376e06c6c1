import { Hono } from "hono";
import { readDocument } from "../body.ts";
import type { GatewayDeps } from "../deps.ts";
import { type AuthEnv, requireScope } from "../middleware/auth.ts";
import {
  InvocationGetQuerySchema,
  InvocationQuerySchema,
  parseInput,
  SignalRequestSchema,
} from "../schemas.ts";
import { dashboardData } from "../ui/data.ts";
import { execRoute } from "./exec.ts";

/** /system/invocations: list, read, cancel, signal (invoke scope). */
export function invocationRoutes(deps: GatewayDeps, maxBody: number): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.use("*", requireScope("invoke"));
  app.get("/", async (c) => {
    const q = parseInput(InvocationQuerySchema, c.req.query(), "query");
    const list = await deps.invocations.list({
      ...(q.function === undefined ? {} : { function: q.function }),
      ...(q.status === undefined ? {} : { status: q.status }),
      limit: q.limit,
    });
    return c.json({ invocations: list });
  });
  app.get("/:id", async (c) => {
    const q = parseInput(InvocationGetQuerySchema, c.req.query(), "query");
    const record = await deps.invocations.get(c.req.param("id"));
    if (q.detail !== "true") return c.json(record);
    // Measured spans and usage from the store; without one, spans drawn from the record's times.
    const { spans, usage, measured } = await dashboardData(deps).extras(record);
    return c.json({ ...record, usage, spans, spansMeasured: measured });
  });
  app.delete("/:id", async (c) => c.json(await deps.invocations.cancel(c.req.param("id")), 202));
  app.get("/:id/exec", (c) => execRoute(deps, c));
  app.post("/:id/signal", async (c) => {
    const body = parseInput(SignalRequestSchema, await readDocument(c.req.raw, maxBody), "signal request");
    const record = await deps.invocations.signal(c.req.param("id"), body.signal, body.scope);
    return c.json(record, 202);
  });
  return app;
}
