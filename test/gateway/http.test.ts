import { describe, expect, test } from "bun:test";
import { bearer, INVOKER, makeApp } from "./helpers.ts";

const { app } = makeApp();

async function problem(r: Response) {
  expect(r.headers.get("content-type")).toBe("application/problem+json");
  return (await r.json()) as Record<string, unknown>;
}

describe("errors are problem+json, never the gateway's 5xx", () => {
  test("unknown route", async () => {
    const r = await app.request("/nope");
    expect(r.status).toBe(404);
    expect((await problem(r)).type).toBe("urn:bunker:problem:route-not-found");
  });

  test("unknown function", async () => {
    const r = await app.request("/function/missing");
    expect(r.status).toBe(404);
    expect((await problem(r)).type).toBe("urn:bunker:problem:function-not-found");
    expect((await app.request("/async-function/missing", { method: "POST" })).status).toBe(404);
  });

  test("malformed JSON", async () => {
    const r = await app.request("/system/functions/x", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: "{nope",
    });
    expect(r.status).toBe(400);
    expect((await problem(r)).type).toBe("urn:bunker:problem:malformed-body");
  });

  test("invalid definition lists JSON pointers", async () => {
    const r = await app.request("/system/functions/x", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ command: "/bin/true", max_inflight: -1 }),
    });
    expect(r.status).toBe(422);
    const p = await problem(r);
    expect(p.errors).toContainEqual(expect.objectContaining({ pointer: "/max_inflight" }));
  });

  test("huge headers are 431", async () => {
    const r = await app.request("/healthz", { headers: { "X-Big": "a".repeat(20_000) } });
    expect(r.status).toBe(431);
    await problem(r);
  });

  test("Content-Length over max_body is 413 before anything runs", async () => {
    const r = await app.request("/function/echo", {
      method: "POST",
      headers: { "Content-Length": String(2 * 1024 * 1024) },
      body: "x",
    });
    expect(r.status).toBe(413);
    await problem(r);
  });

  test("bad query and bad signal bodies are 4xx", async () => {
    expect((await app.request("/system/invocations?status=weird")).status).toBe(422);
    expect((await app.request("/system/invocations?limit=0")).status).toBe(422);
    const r = await app.request("/system/invocations/none/signal", { method: "POST", body: "[]" });
    expect(r.status).toBeLessThan(500);
    expect((await app.request("/system/invocations/none")).status).toBe(404);
  });

  test("garbage on every route stays below 500", async () => {
    const paths = [
      "/function/%zz",
      "/system/functions/%00",
      "/2015-03-31/functions/x/invocations",
      "/system/info",
    ];
    for (const p of paths) {
      for (const method of ["GET", "POST", "PUT", "DELETE"]) {
        const r = await app.request(p, { method, body: method === "GET" ? null : "\u0000{" });
        expect(r.status).toBeLessThan(500);
      }
    }
  });
});

describe("system routes", () => {
  test("healthz, readyz, info, metrics, openapi, docs, schema", async () => {
    expect((await app.request("/healthz")).status).toBe(200);
    expect((await app.request("/readyz")).status).toBe(200);
    const info = (await (await app.request("/system/info")).json()) as {
      driver: { exec: string };
      auth: string;
    };
    expect(info.driver.exec).toBe("1");
    expect(info.auth).toBe("open");
    expect(await (await app.request("/metrics")).text()).toContain("#");
    const doc = (await (await app.request("/openapi.json")).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain("/async-function/{name}");
    expect(await (await app.request("/docs")).text()).toContain("/system/invocations/{id}");
    const schema = (await (await app.request("/system/functions/schema")).json()) as { properties: object };
    expect(Object.keys(schema.properties)).toContain("timeout");
  });

  test("functions CRUD through the API", async () => {
    const put = await app.request("/system/functions/tmp-fn", {
      method: "PUT",
      headers: { "Content-Type": "application/toml" },
      body: 'command = "/bin/true"\n',
    });
    expect(put.status).toBe(201);
    expect((await app.request("/system/functions/tmp-fn")).status).toBe(200);
    const list = (await (await app.request("/system/functions")).json()) as { functions: { name: string }[] };
    expect(list.functions.map((f) => f.name)).toContain("tmp-fn");
    expect((await app.request("/system/functions/echo", { method: "DELETE" })).status).toBe(409);
    expect((await app.request("/system/functions/tmp-fn", { method: "DELETE" })).status).toBe(204);
    const post = await app.request("/system/functions", {
      method: "POST",
      body: JSON.stringify({ name: "tmp-two", command: "/bin/true" }),
    });
    expect(post.status).toBe(201);
    expect(post.headers.get("location")).toBe("/system/functions/tmp-two");
  });
});

describe("auth", () => {
  const secured = makeApp({ auth: true }).app;

  test("invoke needs a token unless the function is public", async () => {
    expect((await secured.request("/function/fail")).status).toBe(401);
    expect((await secured.request("/function/hello")).status).toBe(200);
    expect((await secured.request("/function/fail", { headers: bearer("wrong-token-000000") })).status).toBe(
      401,
    );
    expect((await secured.request("/function/fail", { headers: bearer(INVOKER) })).status).toBe(500);
  });

  test("admin routes need the admin scope", async () => {
    expect((await secured.request("/system/functions")).status).toBe(401);
    expect((await secured.request("/system/functions", { headers: bearer(INVOKER) })).status).toBe(403);
    expect((await secured.request("/system/functions/schema")).status).toBe(200);
    expect((await secured.request("/healthz")).status).toBe(200);
  });

  test("unknown function without a token is 401, not 404", async () => {
    expect((await secured.request("/function/missing")).status).toBe(401);
  });
});
