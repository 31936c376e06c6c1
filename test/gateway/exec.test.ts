import { afterAll, describe, expect, test } from "bun:test";
import type { Driver, TaskHandle } from "../../src/driver/api.ts";
import { FunctionRegistry } from "../../src/functions/registry.ts";
import { createApp } from "../../src/gateway/app.ts";
import { startServer } from "../../src/gateway/server.ts";
import { createInvokeServices } from "../../src/invoke/services.ts";
import { driver, parseTask } from "./helpers.ts";

const HOLD = `hold-${Date.now().toString(36)}`;
const definition = { command: "/bin/sleep", args: ["60"], timeout: "60s", kill_timeout: "100ms" };

type Frame = { stdout?: string; stderr?: string; exit?: number; error?: string };

/** Starts the hold function and returns its invocation id once it runs. */
async function startHold(base: URL, list: () => Promise<{ id: string }[]>) {
  const call = fetch(new URL(`/function/${HOLD}`, base)).then((r) => r.status);
  for (;;) {
    const [rec] = await list();
    if (rec) return { id: rec.id, call };
    await Bun.sleep(10);
  }
}

describe("exec into a running invocation (WebSocket)", () => {
  const functions = new FunctionRegistry({ parseTask });
  functions.create(HOLD, definition);
  const server = startServer({ port: 0, driver, functions, log: () => {} });
  afterAll(() => server.stop());
  const running = async () =>
    (await server.services.invocations.list({ function: HOLD, status: "running" })) as { id: string }[];

  test("stdin in, stdout and stderr out, then the exit code", async () => {
    const { id, call } = await startHold(server.url, running);
    const cmd = JSON.stringify(["/bin/sh", "-c", "cat; echo to-stderr >&2; exit 7"]);
    const url = new URL(`/system/invocations/${id}/exec?command=${encodeURIComponent(cmd)}`, server.url);
    url.protocol = "ws:";
    const ws = new WebSocket(url);
    const frames: Frame[] = [];
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
    ws.addEventListener("message", (e) => frames.push(JSON.parse(String(e.data)) as Frame));
    await new Promise((resolve) => ws.addEventListener("open", resolve));
    ws.send(JSON.stringify({ stdin: Buffer.from("hello exec\n").toString("base64") }));
    ws.send(JSON.stringify({ resize: { cols: 100, rows: 40 } }));
    ws.send("not json");
    ws.send(JSON.stringify({ close: true }));
    expect(await closed).toBe(1000);
    const text = (k: "stdout" | "stderr") =>
      frames.map((f) => (f[k] ? Buffer.from(f[k], "base64").toString() : "")).join("");
    expect(text("stdout")).toBe("hello exec\n");
    expect(text("stderr")).toBe("to-stderr\n");
    expect(frames.at(-1)).toEqual({ exit: 7 });
    expect(frames.some((f) => f.error?.startsWith("send JSON text frames"))).toBe(true);
    await server.services.invocations.cancel(id);
    expect(await call).toBe(409);
  }, 30_000);

  test("bad queries, finished invocations and plain GETs are 4xx problems", async () => {
    const get = (path: string) => fetch(new URL(path, server.url));
    expect((await get("/system/invocations/nope/exec?command=%5B%22%2Fbin%2Fsh%22%5D")).status).toBe(404);
    expect((await get("/system/invocations/nope/exec?command=sh")).status).toBe(422);
    expect((await get("/system/invocations/nope/exec")).status).toBe(422);
    const { id, call } = await startHold(server.url, running);
    const plain = await get(`/system/invocations/${id}/exec?command=%5B%22%2Fbin%2Fsh%22%5D`);
    expect(plain.status).toBe(426);
    expect(plain.headers.get("upgrade")).toBe("websocket");
    await server.services.invocations.cancel(id);
    await call;
    const after = await get(`/system/invocations/${id}/exec?command=%5B%22%2Fbin%2Fsh%22%5D`);
    expect(after.status).toBe(409);
  }, 30_000);
});

test("501 problem when the driver's handles cannot exec", async () => {
  // The real driver, with exec hidden from its handles (as a driver without exec-into would be).
  const noExec: Driver = {
    fingerprint: () => driver.fingerprint(),
    async start(spec, opts) {
      const h = await driver.start(spec, opts);
      return new Proxy(h, {
        get: (t, k) => (k === "exec" ? undefined : Reflect.get(t, k, t)),
      }) as TaskHandle;
    },
  };
  const functions = new FunctionRegistry({ parseTask });
  functions.create(HOLD, definition);
  const services = createInvokeServices({
    driver: noExec,
    lookup: (n) => functions.get(n),
    callbackSecret: "x",
  });
  const app = createApp({
    version: "test",
    functions,
    ...services,
    fingerprint: () => driver.fingerprint(),
    tokens: null,
  });
  const call = app.request(`/function/${HOLD}`);
  let id: string | undefined;
  while (id === undefined) {
    id = (await services.invocations.list({ function: HOLD, status: "running" }))[0]?.id;
    await Bun.sleep(10);
  }
  const r = await app.request(`/system/invocations/${id}/exec?command=%5B%22%2Fbin%2Fsh%22%5D`, {
    headers: { Upgrade: "websocket" },
  });
  expect(r.status).toBe(501);
  expect(((await r.json()) as { type: string }).type).toBe("urn:bunker:problem:exec-unsupported");
  await services.invocations.cancel(id);
  await call;
}, 30_000);
