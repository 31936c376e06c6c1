import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { DEFAULT_LIMITS, type GatewayDeps } from "./deps.ts";
import { type AuthEnv, authenticate } from "./middleware/auth.ts";
import { httpSpans } from "./middleware/http-spans.ts";
import { headerLimit } from "./middleware/limits.ts";
import { docsPage, openApiDocument } from "./openapi.ts";
import { errorToResponse, makeProblem, type ProblemCode, problemResponse } from "./problem.ts";
import { asyncRoutes } from "./routes/async.ts";
import { functionRoutes } from "./routes/function.ts";
import { functionAdminRoutes } from "./routes/functions.ts";
import { invocationRoutes } from "./routes/invocations.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { lambdaRoutes } from "./routes/lambda.ts";
import { systemRoutes } from "./routes/system.ts";
import { ui } from "./ui/index.tsx";

function httpExceptionCode(status: number): ProblemCode {
  if (status === 413) return "body_too_large";
  if (status === 401) return "unauthorized";
  if (status === 404) return "route_not_found";
  return "bad_request";
}

/** The whole HTTP API as a Hono app (serve it with Bun.serve, test it with app.request()). */
export function createApp(deps: GatewayDeps): Hono<AuthEnv> {
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const app = new Hono<AuthEnv>();
  app.onError((err, c) => {
    if (err instanceof HTTPException && err.status < 500) {
      return problemResponse(
        makeProblem(httpExceptionCode(err.status), err.message || "bad request", { instance: c.req.path }),
      );
    }
    return errorToResponse(err, c);
  });
  app.notFound((c) =>
    problemResponse(
      makeProblem("route_not_found", `no route for ${c.req.method} ${c.req.path}; see /openapi.json`, {
        instance: c.req.path,
      }),
    ),
  );
  if (deps.httpTracer) app.use("*", httpSpans(deps.httpTracer));
  app.use("*", headerLimit({ maxBytes: limits.maxHeaderBytes, maxCount: limits.maxHeaderCount }));
  app.use("*", authenticate(deps.tokens));

  const doc = openApiDocument(deps.version);
  app.get("/openapi.json", (c) => c.json(doc));
  app.get("/docs", (c) => c.html(docsPage(doc)));
  app.route("/", systemRoutes(deps));
  app.route("/function", functionRoutes(deps, limits));
  app.route("/async-function", asyncRoutes(deps));
  app.route("/system/invocations", invocationRoutes(deps, limits.maxAdminBody));
  app.route("/system/functions", functionAdminRoutes(deps, limits.maxAdminBody));
  app.route("/system/jobs", jobRoutes(deps));
  app.route("/2015-03-31", lambdaRoutes(deps));
  app.get("/", (c) => c.redirect("/ui"));
  app.route("/ui", ui(deps));
  return app;
}
