import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePluginConfig } from "../../src/driver/config.ts";
import { createExecDriver } from "../../src/driver/exec.ts";
import { FunctionRegistry } from "../../src/functions/registry.ts";
import { taskParser } from "../../src/functions/task.ts";
import { backoffDelay, MAX_BACKOFF_MS, sleepUnlessAborted } from "../../src/invoke/backoff.ts";
import type { InvocationRecord } from "../../src/invoke/record.ts";
import { createInvokeServices } from "../../src/invoke/services.ts";

const plugin = parsePluginConfig({});
const parseTask = taskParser(plugin);
const dataDir = mkdtempSync(join(tmpdir(), "bunker-retry-"));
const driver = createExecDriver({ plugin, dataDir });
const functions = new FunctionRegistry({ parseTask });
const services = createInvokeServices({ driver, lookup: (n) => functions.get(n), callbackSecret: "s" });
afterAll(async () => {
  await services.async.close();
  Bun.spawnSync(["umount", join(dataDir, "tasks")], { stderr: "ignore" });
  try {
    rmSync(dataDir, { recursive: true, force: true });
  } catch {
    // EBUSY: the driver's tasks tmpfs may live in another mount namespace.
  }
});

const tag = `r${Date.now().toString(36)}`;

async function until(id: string, ok: (r: InvocationRecord) => boolean): Promise<InvocationRecord> {
  for (;;) {
    const r = await services.invocations.get(id);
    if (ok(r)) return r;
    await Bun.sleep(10);
  }
}
const final = (r: InvocationRecord) => !["queued", "running"].includes(r.status);

describe("backoff", () => {
  test("doubles from the base, capped", () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(100, n))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(10 * 60_000, 10)).toBe(MAX_BACKOFF_MS);
  });

  test("an abort ends the wait early without an error", async () => {
    const ctl = new AbortController();
    const wait = sleepUnlessAborted(MAX_BACKOFF_MS, ctl.signal);
    ctl.abort();
    await wait;
    await sleepUnlessAborted(MAX_BACKOFF_MS, ctl.signal);
  });
});

describe("async retry policy", () => {
  test("a failing function runs `attempts` times, then the record is final", async () => {
    const fn = functions.create(`${tag}-fail`, {
      command: "/bin/sh",
      args: ["-c", "exit 5"],
      retry: { attempts: 3, backoff: "5ms" },
    });
    const { id } = await services.async.submit({ fn, body: new Uint8Array(), env: {} });
    const r = await until(id, final);
    expect(r).toMatchObject({ status: "failed", exitCode: 5, attempts: 3 });
  }, 30_000);

  test("success stops retrying", async () => {
    const fn = functions.create(`${tag}-ok`, {
      command: "/bin/true",
      retry: { attempts: 3, backoff: "5ms" },
    });
    const { id } = await services.async.submit({ fn, body: new Uint8Array(), env: {} });
    expect(await until(id, final)).toMatchObject({ status: "succeeded", attempts: 1 });
  }, 30_000);

  test("cancel between retries ends the job as cancelled without another run", async () => {
    const fn = functions.create(`${tag}-slow-retry`, {
      command: "/bin/false",
      retry: { attempts: 5, backoff: "1h" },
    });
    const { id } = await services.async.submit({ fn, body: new Uint8Array(), env: {} });
    // First run over, now in its backoff: attempts counted, no task active.
    await until(
      id,
      (r) => r.attempts === 1 && services.invoker.active(id) === undefined && r.startedAt !== undefined,
    );
    while (services.invoker.admission.inflight(fn.name) > 0) await Bun.sleep(10);
    await services.invocations.cancel(id);
    expect(await until(id, final)).toMatchObject({ status: "cancelled", attempts: 1 });
  }, 30_000);

  test("a queued job waits for a slot and runs once a sync run finishes or is cancelled", async () => {
    const fn = functions.create(`${tag}-hold`, {
      command: "/bin/sleep",
      args: ["60"],
      max_inflight: 1,
      timeout: "60s",
      kill_timeout: "100ms",
    });
    const sync = await services.invoker.start({ fn, mode: "sync" });
    const { id } = await services.async.submit({ fn, body: new Uint8Array(), env: {} });
    await Bun.sleep(50);
    expect((await services.invocations.get(id)).status).toBe("queued");
    await sync.cancel();
    expect((await sync.result).status).toBe("cancelled");
    await until(id, (r) => r.status === "running");
    await services.invocations.cancel(id);
    expect(await until(id, final)).toMatchObject({ status: "cancelled" });
    expect(services.invoker.admission.inflight(fn.name)).toBe(0);
  }, 30_000);
});
