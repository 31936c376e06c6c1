import { Hono } from "hono";
import { functionJsonSchema } from "../../functions/json-schema.ts";
import type { FunctionSpec } from "../../functions/spec.ts";
import { readDocument } from "../body.ts";
import type { GatewayDeps } from "../deps.ts";
import { type AuthEnv, requireScope } from "../middleware/auth.ts";
import { ProblemError } from "../problem.ts";

export function summary(deps: GatewayDeps, f: FunctionSpec) {
  return {
    name: f.name,
    source: f.source,
    ...(f.path === undefined ? {} : { path: f.path }),
    ...(f.description === undefined ? {} : { description: f.description }),
    public: f.public,
    timeoutMs: f.timeoutMs,
    maxInflight: f.maxInflight,
    inflight: deps.invoker.admission.inflight(f.name),
    ...(f.schedule === undefined ? {} : { schedule: f.schedule }),
  };
}

function detail(deps: GatewayDeps, f: FunctionSpec) {
  return { ...summary(deps, f), definition: f.definition };
}

function asObject(doc: unknown): Record<string, unknown> {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ProblemError("bad_request", "the body must be a JSON object (a function definition)");
  }
  return doc as Record<string, unknown>;
}

/** /system/functions: the schema is public; everything else needs admin. */
export function functionAdminRoutes(deps: GatewayDeps, maxBody: number): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const schema = functionJsonSchema();
  app.get("/schema", (c) => c.json(schema, 200, { "Content-Type": "application/schema+json" }));
  app.use("*", requireScope("admin"));
  app.get("/", (c) => c.json({ functions: deps.functions.list().map((f) => summary(deps, f)) }));
  app.get("/:name", (c) => c.json(detail(deps, deps.functions.require(c.req.param("name")))));
  app.post("/", async (c) => {
    const doc = asObject(await readDocument(c.req.raw, maxBody));
    if (typeof doc.name !== "string") {
      throw new ProblemError(
        "bad_request",
        'POST /system/functions needs a "name"; or PUT /system/functions/{name}',
      );
    }
    const spec = deps.functions.create(doc.name, doc);
    return c.json(detail(deps, spec), 201, { Location: `/system/functions/${spec.name}` });
  });
  app.put("/:name", async (c) => {
    const doc = asObject(await readDocument(c.req.raw, maxBody));
    const { spec, created } = deps.functions.put(c.req.param("name"), doc);
    return c.json(detail(deps, spec), created ? 201 : 200, { Location: `/system/functions/${spec.name}` });
  });
  app.delete("/:name", (c) => {
    deps.functions.delete(c.req.param("name"));
    return c.body(null, 204);
  });
  return app;
}
