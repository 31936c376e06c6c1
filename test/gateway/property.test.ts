import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { makeApp } from "./helpers.ts";

/**
 * Random requests against the whole app: the gateway answers every one with a status below
 * 500, except the function's own failures on /function routes of an existing function.
 */
const { app, functions } = makeApp();
const tag = `p${Date.now().toString(36)}`;

/** 5xx problems that a function causes, never the gateway: allowed for existing functions only. */
const FUNCTION_5XX = new Set(
  ["function-failed", "setup-failed", "output-too-large", "function-timeout"].map(
    (c) => `urn:bunker:problem:${c}`,
  ),
);

const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,40}$/);
const headerValue = fc.oneof(
  fc.string({ maxLength: 64 }).map((s) => s.replace(/[\r\n\0]/g, "").trim()),
  fc.constantFrom("Bearer x", "application/json", "application/toml", "chunked", "-1", "99999999999"),
  fc.nat(30_000).map((n) => "v".repeat(n)),
);
const headerNames = fc.oneof(
  token,
  fc.constantFrom(
    "Content-Type",
    "Authorization",
    "X-Callback-Url",
    "Idempotency-Key",
    "X-Amz-Invocation-Type",
    "X-Amz-Log-Type",
    "traceparent",
    "Upgrade",
  ),
);
const headers = fc.dictionary(headerNames, headerValue, { maxKeys: 8 });

const segment = fc.oneof(
  fc.constantFrom(
    "hello",
    "echo",
    "fail",
    "wc",
    "missing",
    "schema",
    "signal",
    "exec",
    "",
    "..",
    "%00",
    "%zz",
  ),
  fc.constantFrom(`${tag}-a`, `${tag}-b`),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
);
const path = fc
  .tuple(
    fc.constantFrom(
      "/function",
      "/async-function",
      "/system/functions",
      "/system/invocations",
      "/2015-03-31/functions",
      "/system/info",
      "/healthz",
      "/readyz",
      "/openapi.json",
      "/docs",
      "",
    ),
    fc.array(segment, { maxLength: 3 }),
    fc.option(fc.string({ maxLength: 20 }).map(encodeURIComponent)),
  )
  .map(([root, segs, q]) => `${root}/${segs.join("/")}${q === null ? "" : `?${q}`}`);

const method = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS");
const body = fc.oneof(
  fc.constant(null),
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc.uint8Array({ maxLength: 2000 }),
);

/** Mostly a valid value, sometimes a bad one or anything at all. */
const field = <T>(valid: fc.Arbitrary<T>, ...bad: unknown[]) =>
  fc.oneof(
    { arbitrary: valid, weight: 40 },
    { arbitrary: bad.length > 0 ? fc.constantFrom(...bad) : fc.anything(), weight: 1 },
    { arbitrary: fc.anything(), weight: 1 },
  );

/** Function definitions: known fields with random values, safe commands, sometimes a stray key. */
const definition = fc
  .tuple(
    fc.record(
      {
        command: field(fc.constantFrom("/bin/true", "/bin/cat", "/bin/echo", "/bin/false"), "/nope", ""),
        args: field(fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 })),
        timeout: field(fc.constantFrom("1s", "100ms", "2s"), "0s", "-1s"),
        max_inflight: field(fc.integer({ min: 1, max: 4 }), 0, -1),
        max_body: field(fc.constantFrom("1KiB", "2", "0"), "10x"),
        max_output: field(fc.constantFrom("1KiB", "1", "1MiB")),
        public: field(fc.boolean()),
        env: field(
          fc.dictionary(fc.stringMatching(/^[A-Z_]{1,8}$/), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
        ),
        user: field(fc.constantFrom("nobody"), "root", "0", "no-such-user"),
        resources: field(
          fc.record({ cpu: fc.integer({ min: 50, max: 500 }), memory: fc.integer({ min: 16, max: 256 }) }),
          { cpu: -1 },
        ),
        cap_add: field(fc.constantFrom(["chown"], []), ["CAP_SYS_ADMIN"], ["bogus"]),
        retry: field(fc.record({ attempts: fc.integer({ min: 1, max: 3 }), backoff: fc.constant("1ms") })),
      },
      { requiredKeys: ["command"] },
    ),
    fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.anything(), { maxKeys: 2 }), { freq: 6 }),
  )
  .map(([known, stray]) => ({ ...stray, ...known }));

function isFunctionRoute(p: string): boolean {
  const m = /^\/(?:function|2015-03-31\/functions)\/([^/?]+)/.exec(p);
  return m?.[1] !== undefined && functions.get(decodeURIComponent(m[1])) !== undefined;
}

async function check(res: Response, p: string): Promise<void> {
  if (res.status < 500) {
    await res.body?.cancel();
    return;
  }
  const text = await res.text();
  let type = "";
  try {
    type = (JSON.parse(text) as { type?: string }).type ?? "";
  } catch {
    // not a problem document: certainly the gateway's fault
  }
  const ok = isFunctionRoute(p) && FUNCTION_5XX.has(type);
  if (!ok) throw new Error(`${res.status} ${type} for ${p}: ${text.slice(0, 300)}`);
}

describe("property: no 5xx of the gateway's own making", () => {
  test("random requests", async () => {
    await fc.assert(
      fc.asyncProperty(method, path, headers, body, async (m, p, h, b) => {
        const hasBody = b !== null && m !== "GET" && m !== "HEAD";
        const init: RequestInit = { method: m, headers: h };
        if (hasBody) init.body = typeof b === "string" || b instanceof Uint8Array ? b : JSON.stringify(b);
        await check(await app.request(p, init), p);
      }),
      { numRuns: 200, seed: 20261128 },
    );
  }, 60_000);

  test("random function definitions, then invoking them", async () => {
    let created = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(`${tag}-a`, `${tag}-b`, `${tag}-a`, `${tag}-b`, "UPPER", "x".repeat(70), "echo"),
        definition,
        fc.constantFrom("PUT", "POST"),
        fc.constantFrom(
          "application/json",
          "application/json",
          "application/json",
          "application/toml",
          "text/plain",
        ),
        async (name, def, m, ct) => {
          const url = m === "PUT" ? `/system/functions/${encodeURIComponent(name)}` : "/system/functions";
          const doc = m === "POST" ? { name, ...def } : def;
          const res = await app.request(url, {
            method: m,
            headers: { "Content-Type": ct },
            // JSON under a TOML or text content type is malformed input too.
            body: JSON.stringify(doc),
          });
          await check(res, url);
          if (res.status < 300) {
            created++;
            const call = `/function/${name}`;
            await check(await app.request(call, { method: "POST", body: "input" }), call);
            await check(await app.request(`/async-function/${name}`, { method: "POST" }), call);
          }
        },
      ),
      { numRuns: 200, seed: 20261128 },
    );
    // Make sure the property ran functions, not only validation errors.
    expect(created).toBeGreaterThan(5);
    // Leave nothing behind for other tests using this app.
    for (const f of functions.list()) if (f.name.startsWith(tag)) functions.delete(f.name);
  }, 120_000);
});
