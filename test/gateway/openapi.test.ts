import { describe, expect, test } from "bun:test";
import { makeApp } from "./helpers.ts";

/** Structural OpenAPI 3.1 checks (no validator package is installed): the rules a validator applies. */
const { app } = makeApp();
type Json = Record<string, unknown>;
const doc = (await (await app.request("/openapi.json")).json()) as Json;
const paths = doc.paths as Record<string, Record<string, Json>>;
const METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Every value in the document with its JSON pointer. */
function* walk(v: unknown, at = ""): Generator<[string, unknown]> {
  yield [at, v];
  if (Array.isArray(v)) for (const [i, x] of v.entries()) yield* walk(x, `${at}/${i}`);
  else if (isObject(v))
    for (const [k, x] of Object.entries(v))
      yield* walk(x, `${at}/${k.replaceAll("~", "~0").replaceAll("/", "~1")}`);
}

function resolve(pointer: string): unknown {
  let cur: unknown = doc;
  for (const part of pointer.split("/").slice(1)) {
    const key = decodeURIComponent(part).replaceAll("~1", "/").replaceAll("~0", "~");
    if (!isObject(cur) && !Array.isArray(cur)) return undefined;
    cur = (cur as Json)[key];
  }
  return cur;
}

describe("/openapi.json", () => {
  test("required top-level fields", () => {
    expect(String(doc.openapi)).toMatch(/^3\.1\.\d+$/);
    const info = doc.info as Json;
    expect(typeof info.title).toBe("string");
    expect(typeof info.version).toBe("string");
    expect(isObject(doc.paths)).toBe(true);
    const schemes = (doc.components as Json).securitySchemes as Json;
    for (const req of doc.security as Json[])
      for (const name of Object.keys(req)) expect(schemes[name]).toBeDefined();
  });

  test("every operation: responses with descriptions, well-formed parameters", () => {
    for (const [path, item] of Object.entries(paths)) {
      expect(path.startsWith("/")).toBe(true);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(METHODS.has(method) ? where : `bad method ${where}`).toBe(where);
        const responses = op.responses as Record<string, Json>;
        expect(Object.keys(responses).length).toBeGreaterThan(0);
        for (const [code, res] of Object.entries(responses)) {
          expect(`${where} ${code}`).toMatch(/ ([1-5](\d\d|XX)|default)$/);
          expect(typeof res.description === "string" ? where : `${where} ${code} lacks a description`).toBe(
            where,
          );
        }
        const params = (op.parameters ?? []) as Json[];
        const seen = new Set<string>();
        for (const p of params) {
          expect(["path", "query", "header", "cookie"]).toContain(p.in as string);
          expect(typeof p.name).toBe("string");
          expect(isObject(p.schema) || isObject(p.content)).toBe(true);
          const key = `${p.in}:${p.name}`;
          expect(seen.has(key) ? `duplicate ${key} in ${where}` : where).toBe(where);
          seen.add(key);
          if (p.in === "path") expect(p.required).toBe(true);
        }
        const pathParams = params.filter((p) => p.in === "path").map((p) => p.name);
        expect(pathParams.sort()).toEqual([...templated].sort() as string[]);
      }
    }
  });

  test("every $ref resolves", () => {
    const refs = [...walk(doc)].filter(([at, v]) => at.endsWith("/$ref") && typeof v === "string");
    expect(refs.length).toBeGreaterThan(0);
    for (const [at, ref] of refs) {
      expect(String(ref).startsWith("#/") ? at : `${at}: external ${ref}`).toBe(at);
      expect(resolve(String(ref).slice(1)) === undefined ? `${at}: ${ref} does not resolve` : at).toBe(at);
    }
  });

  test("every route of the app is documented", () => {
    const documented = new Set(
      Object.entries(paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`)),
    );
    for (const r of app.routes) {
      // `app.use` middleware is registered as ALL on a wildcard without parameters.
      if (r.method === "ALL" && r.path.endsWith("*") && !r.path.includes(":")) continue;
      // The dashboard (and / redirecting to it) is pages for people, not API.
      if (r.path === "/" || r.path === "/ui" || r.path.startsWith("/ui/")) continue;
      const path = r.path.replace(/:(\w+)/g, "{$1}").replace(/\/\*$/, "/{path}");
      const methods = r.method === "ALL" ? ["GET", "POST", "PUT", "DELETE", "PATCH"] : [r.method];
      for (const m of methods) expect(documented).toContain(`${m} ${path}`);
    }
  });

  test("the docs page lists every documented route", async () => {
    const html = await (await app.request("/docs")).text();
    for (const path of Object.keys(paths)) expect(html).toContain(path.replaceAll("&", "&amp;"));
  });
});
