import { Hono } from "hono";
import { ValidationError } from "../../errors.ts";
import { schedulerFor } from "../../schedule/index.ts";
import type { Scheduler } from "../../schedule/scheduler.ts";
import type { GatewayDeps } from "../deps.ts";
import { type AuthEnv, requireScope } from "../middleware/auth.ts";
import { ProblemError } from "../problem.ts";

/** GatewayDeps gains `jobs` once deps.ts has it; until then the scheduler is found through the invoker. */
export type JobDeps = GatewayDeps & { jobs?: Scheduler };

/**
 * /system/jobs: scheduled functions with their last and next runs, the next fire times of one,
 * and a manual trigger (invoke scope).
 */
export function jobRoutes(deps: JobDeps): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const scheduler = (): Scheduler => {
    const s = deps.jobs ?? schedulerFor(deps.invoker);
    if (!s) throw new ProblemError("route_not_found", "the scheduler does not run on this server");
    return s;
  };
  app.use("*", requireScope("invoke"));
  app.get("/", async (c) => c.json({ jobs: await scheduler().jobs() }));
  app.get("/:name", async (c) => c.json(await scheduler().job(c.req.param("name"))));
  app.get("/:name/next", (c) => {
    const raw = c.req.query("n") ?? "5";
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 100) {
      throw new ValidationError(`n must be an integer from 1 to 100, got "${raw}"`, [
        { path: "/n", message: "must be an integer from 1 to 100" },
      ]);
    }
    const name = c.req.param("name");
    return c.json({ name, next: scheduler().next(name, n) });
  });
  app.post("/:name/trigger", async (c) => c.json(await scheduler().trigger(c.req.param("name")), 202));
  return app;
}
