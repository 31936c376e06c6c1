import { describe, expect, test } from "bun:test";
import { makeApp, waitFinal } from "./helpers.ts";

const { app, functions, services } = makeApp();
const tag = `s${Date.now().toString(36)}`;
const ZEROS = `${tag}-zeros`;
functions.create(ZEROS, {
  command: "/bin/sh",
  args: ["-c", 'head -c "$N" /dev/zero'],
  env: { N: "20000" },
  max_output: "10KiB",
  public: true,
});

/** A request body that never ends on its own: no Content-Length, chunked on the wire. */
function endless(chunk = 64 * 1024): ReadableStream<Uint8Array> {
  return new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(chunk).fill(97)) });
}

const streamed = (body: ReadableStream<Uint8Array>) =>
  ({ method: "POST", body, duplex: "half" }) as RequestInit;

describe("stdin", () => {
  test("echo round trip of binary bytes", async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(100_000));
    const r = await app.request("/function/echo", { method: "POST", body: bytes });
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
  }, 15_000);

  test("wc counts a streamed body", async () => {
    let left = 3;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (left-- === 0) return c.close();
        c.enqueue(new TextEncoder().encode("one two\nthree\n"));
      },
    });
    const r = await app.request("/function/wc", streamed(body));
    expect(r.status).toBe(200);
    expect((await r.text()).trim().split(/\s+/)).toEqual(["6", "9", "42"]);
  }, 15_000);

  test("a chunked body over max_body is 413 and the task is stopped", async () => {
    const r = await app.request("/function/wc", streamed(endless()));
    expect(r.status).toBe(413);
    const id = r.headers.get("x-call-id") ?? "";
    const p = (await r.json()) as { type: string; limit: number };
    expect(p.type).toBe("urn:bunker:problem:body-too-large");
    expect(p.limit).toBe(10 * 1024 * 1024);
    const rec = await waitFinal(app, id);
    expect(rec.status).toBe("failed");
    expect(String(rec.error)).toContain("max_body");
    expect(services.invoker.active(id)).toBeUndefined();
    expect(services.invoker.admission.inflight("wc")).toBe(0);
  }, 20_000);

  test("output over max_output is 502 and the task is stopped", async () => {
    const r = await app.request(`/function/${ZEROS}`);
    expect(r.status).toBe(502);
    const p = (await r.json()) as { type: string; limit: number };
    expect(p.type).toBe("urn:bunker:problem:output-too-large");
    expect(p.limit).toBe(10 * 1024);
    const rec = await waitFinal(app, r.headers.get("x-call-id") ?? "");
    expect(String(rec.error)).toContain("max_output");
    expect(services.invoker.admission.inflight(ZEROS)).toBe(0);
  }, 20_000);

  test("async with a body: stdin reaches the task; stdout goes to the record's callback", async () => {
    const received = Promise.withResolvers<string>();
    const receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        received.resolve(await req.text());
        return new Response("ok");
      },
    });
    try {
      const r = await app.request("/async-function/echo", {
        method: "POST",
        body: "async body",
        headers: { "X-Callback-Url": `http://127.0.0.1:${receiver.port}/` },
      });
      expect(r.status).toBe(202);
      const rec = await waitFinal(app, r.headers.get("x-call-id") ?? "");
      expect(rec.status).toBe("succeeded");
      expect(await received.promise).toBe("async body");
    } finally {
      receiver.stop(true);
    }
  }, 20_000);
});
