import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Bunker, startBunker } from "../cli/serve.ts";

/** ARCHITECTURE rule 5 with a really unhealthy driver: `bunker serve` as user nobody. */
let bunker: Bunker;
beforeAll(async () => {
  bunker = await startBunker({ asNobody: true });
}, 30_000);
afterAll(() => bunker?.stop());

const REASON = "Driver must run as root";

async function expect503(res: Response) {
  expect(res.status).toBe(503);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const p = (await res.json()) as { type: string; detail: string; reason: string };
  expect(p.type).toBe("urn:bunker:problem:driver-unavailable");
  expect(p.reason).toBe(REASON);
  expect(p.detail).toContain(REASON);
}

describe("driver unhealthy (not root)", () => {
  test("the server starts and says why", () => {
    expect(bunker.output()).toContain(`exec driver is undetected: ${REASON}`);
  });

  test("every invocation route answers 503 with the reason", async () => {
    const u = bunker.url;
    await expect503(await fetch(`${u}/function/hello`));
    await expect503(await fetch(`${u}/function/echo`, { method: "POST", body: "x" }));
    await expect503(await fetch(`${u}/async-function/hello`, { method: "POST" }));
    await expect503(await fetch(`${u}/2015-03-31/functions/hello/invocations`, { method: "POST" }));
    await expect503(await fetch(`${u}/readyz`));
  }, 20_000);

  test("an unknown function is still 404, /healthz and /system/info still answer", async () => {
    expect((await fetch(`${bunker.url}/function/missing`)).status).toBe(404);
    expect((await fetch(`${bunker.url}/healthz`)).status).toBe(200);
    const info = (await (await fetch(`${bunker.url}/system/info`)).json()) as {
      driver: { exec: string; description: string };
    };
    expect(info.driver).toMatchObject({ exec: "0", description: REASON });
  }, 20_000);
});
