import { Hono } from "hono";
import { DriverUnavailableError } from "../../invoke/errors.ts";
import type { GatewayDeps } from "../deps.ts";
import { type AuthEnv, requireScope } from "../middleware/auth.ts";

/** /healthz, /readyz, /metrics (open) and /system/info (admin). */
export function systemRoutes(deps: GatewayDeps): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const fp = deps.fingerprint();
    if (fp.health !== "healthy") throw new DriverUnavailableError(fp.description);
    return c.json({ status: "ready", driver: fp.description });
  });
  app.get("/metrics", async (c) => {
    const text = deps.metrics ? await deps.metrics() : "# metrics are provided by the telemetry layer\n";
    return c.text(text, 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  app.get("/system/info", requireScope("admin"), (c) => {
    const fp = deps.fingerprint();
    return c.json({
      version: deps.version,
      driver: { exec: fp.health === "healthy" ? "1" : "0", health: fp.health, description: fp.description },
      fingerprint: fp,
      functions: deps.functions.list().length,
      loadErrors: (deps.loadErrors ?? []).map((e) => ({ path: e.path, message: e.message })),
      auth: deps.tokens === null ? "open" : "tokens",
      pool: deps.pool ? deps.pool() : null,
    });
  });
  return app;
}
