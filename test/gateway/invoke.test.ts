import { afterAll, describe, expect, test } from "bun:test";
import { verifyCallback } from "../../src/invoke/callback.ts";
import { CALLBACK_SECRET, makeApp, waitFinal } from "./helpers.ts";

const { app, functions, services } = makeApp();
functions.create("envdump", { command: "/usr/bin/env", public: true });
functions.create("hold", {
  command: "/bin/sleep",
  args: ["60"],
  max_inflight: 1,
  timeout: "60s",
  kill_timeout: "100ms",
});

/** A local receiver for callbacks. */
const received: { headers: Headers; body: Uint8Array }[] = [];
const receiver = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    received.push({ headers: req.headers, body: new Uint8Array(await req.arrayBuffer()) });
    return new Response("ok");
  },
});
afterAll(() => receiver.stop(true));

describe("sync invoke", () => {
  test("200 with args interpolated from env, and the call headers", async () => {
    const r = await app.request("/function/hello");
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("Hello, world! (from Bunker)\n");
    expect(r.headers.get("x-call-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get("x-function-exit-code")).toBe("0");
    expect(Number(r.headers.get("x-duration-seconds"))).toBeGreaterThanOrEqual(0);
  });

  test("CGI environment and TRACEPARENT reach the task; Authorization does not", async () => {
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const r = await app.request("/function/envdump/sub/path?a=1&b=2", {
      headers: { "X-Custom-Thing": "yes", traceparent: tp, Authorization: "Bearer secret-secret-secret" },
    });
    expect(r.status).toBe(200);
    const env = Object.fromEntries(
      (await r.text())
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(env.Http_Method).toBe("GET");
    expect(env.Http_Path).toBe("/sub/path");
    expect(env.Http_Query).toBe("a=1&b=2");
    expect(env.Http_X_Custom_Thing).toBe("yes");
    expect(env.TRACEPARENT).toBe(tp);
    expect(env.Http_Authorization).toBeUndefined();
    expect(Object.values(env).join("\n")).not.toContain("secret-secret");
  });

  test("non-zero exit is 500 with exit_code and stderr_tail", async () => {
    const r = await app.request("/function/fail");
    expect(r.status).toBe(500);
    expect(r.headers.get("x-function-exit-code")).toBe("3");
    const p = (await r.json()) as Record<string, unknown>;
    expect(p.exit_code).toBe(3);
    expect(p.stderr_tail).toBe("something went wrong\n");
  });

  test("timeout is 504", async () => {
    const r = await app.request("/function/sleep");
    expect(r.status).toBe(504);
    expect(((await r.json()) as { type: string }).type).toBe("urn:bunker:problem:function-timeout");
  }, 20_000);

  test("max_inflight: 429 with Retry-After; DELETE cancels the running call", async () => {
    const first = app.request("/function/hold");
    while (services.invoker.admission.inflight("hold") === 0) await Bun.sleep(10);
    const second = await app.request("/function/hold");
    expect(second.status).toBe(429);
    expect(second.headers.get("retry-after")).toBe("1");
    const [running] = services.log.list({ function: "hold", status: "running" });
    expect(running).toBeDefined();
    const del = await app.request(`/system/invocations/${running?.id}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    expect((await first).status).toBe(409);
    expect((await waitFinal(app, running?.id ?? "")).status).toBe("cancelled");
    const again = await app.request(`/system/invocations/${running?.id}`, { method: "DELETE" });
    expect(again.status).toBe(409);
  }, 20_000);

  test("signal reaches a running task", async () => {
    const first = app.request("/function/hold");
    while (services.invoker.admission.inflight("hold") === 0) await Bun.sleep(10);
    const [running] = services.log.list({ function: "hold", status: "running" });
    const bad = await app.request(`/system/invocations/${running?.id}/signal`, {
      method: "POST",
      body: JSON.stringify({ signal: "SIGNOPE" }),
    });
    expect(bad.status).toBe(422);
    const ok = await app.request(`/system/invocations/${running?.id}/signal`, {
      method: "POST",
      body: JSON.stringify({ signal: "SIGTERM", scope: "main" }),
    });
    expect(ok.status).toBe(202);
    const r = await first;
    expect(r.status).toBe(500);
    expect(r.headers.get("x-function-exit-code")).toBe("143");
  }, 20_000);

  test("echo: request body -> stdin -> response body", async () => {
    const r = await app.request("/function/echo", { method: "POST", body: "round trip" });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("round trip");
  }, 15_000);
});

describe("async invoke", () => {
  test("202 + Location, result delivered to the callback with a valid signature", async () => {
    const r = await app.request("/async-function/fail", {
      method: "POST",
      headers: { "X-Callback-Url": `http://127.0.0.1:${receiver.port}/cb` },
    });
    expect(r.status).toBe(202);
    const id = r.headers.get("x-call-id") ?? "";
    expect(r.headers.get("location")).toBe(`/system/invocations/${id}`);
    const rec = await waitFinal(app, id);
    expect(rec.status).toBe("failed");
    expect(rec.exitCode).toBe(3);
    expect(rec.callbackStatus).toBe(200);
    const cb = received.find((x) => x.headers.get("x-call-id") === id);
    expect(cb?.headers.get("x-function-status")).toBe("500");
    expect(cb?.headers.get("x-function-name")).toBe("fail");
    const ok = verifyCallback(
      CALLBACK_SECRET,
      id,
      cb?.headers.get("x-bunker-timestamp") ?? "",
      cb?.body ?? new Uint8Array(),
      cb?.headers.get("x-bunker-signature") ?? "",
    );
    expect(ok).toBe(true);
  }, 20_000);

  test("Idempotency-Key returns the first call", async () => {
    const h = { "Idempotency-Key": "order-42" };
    const a = await app.request("/async-function/hello", { method: "POST", headers: h });
    const b = await app.request("/async-function/hello", { method: "POST", headers: h });
    expect(b.headers.get("x-call-id")).toBe(a.headers.get("x-call-id"));
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect((await waitFinal(app, a.headers.get("x-call-id") ?? "")).status).toBe("succeeded");
    const list = (await (
      await app.request("/system/invocations?function=hello&status=succeeded")
    ).json()) as {
      invocations: unknown[];
    };
    expect(list.invocations.length).toBeGreaterThan(0);
  }, 20_000);

  test("bad callback URL is 400", async () => {
    const r = await app.request("/async-function/hello", {
      method: "POST",
      headers: { "X-Callback-Url": "ftp://x" },
    });
    expect(r.status).toBe(400);
  });
});

describe("Lambda", () => {
  const url = (n: string) => `/2015-03-31/functions/${n}/invocations`;
  test("RequestResponse, DryRun, Event, function error with log tail", async () => {
    const ok = await app.request(url("hello"), { method: "POST" });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("Hello");
    expect(
      (await app.request(url("hello"), { method: "POST", headers: { "X-Amz-Invocation-Type": "DryRun" } }))
        .status,
    ).toBe(204);
    const ev = await app.request(url("hello"), {
      method: "POST",
      headers: { "X-Amz-Invocation-Type": "Event" },
    });
    expect(ev.status).toBe(202);
    const bad = await app.request(url("fail"), { method: "POST", headers: { "X-Amz-Log-Type": "Tail" } });
    expect(bad.status).toBe(200);
    expect(bad.headers.get("x-amz-function-error")).toBe("Unhandled");
    expect(Buffer.from(bad.headers.get("x-amz-log-result") ?? "", "base64").toString()).toBe(
      "something went wrong\n",
    );
    expect((await app.request(url("missing"), { method: "POST" })).status).toBe(404);
    const wrong = await app.request(url("hello"), {
      method: "POST",
      headers: { "X-Amz-Invocation-Type": "Nope" },
    });
    expect(wrong.status).toBe(400);
  }, 20_000);
});
