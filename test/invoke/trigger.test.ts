import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePluginConfig } from "../../src/driver/config.ts";
import { createExecDriver } from "../../src/driver/exec.ts";
import { FunctionRegistry } from "../../src/functions/registry.ts";
import { taskParser } from "../../src/functions/task.ts";
import type { InvocationRecord, InvocationSink } from "../../src/invoke/record.ts";
import { createInvokeServices } from "../../src/invoke/services.ts";
import { toRow } from "../../src/store/sink.ts";

const plugin = parsePluginConfig({});
const parseTask = taskParser(plugin);
const driver = createExecDriver({ plugin, dataDir: mkdtempSync(join(tmpdir(), "bunker-trigger-")) });
const functions = new FunctionRegistry({ parseTask });
const finished: InvocationRecord[] = [];
const sink: InvocationSink = {
  onQueued: () => {},
  onStarted: () => {},
  onFinished: (r) => void finished.push(r),
};
const services = createInvokeServices({
  driver,
  lookup: (n) => functions.get(n),
  callbackSecret: "s",
  sinks: [sink],
});
afterAll(async () => {
  await services.async.close();
  await driver.close();
});

describe("what started an invocation", () => {
  test("a scheduled run is recorded with trigger cron; a caller's run with http", async () => {
    const fn = functions.create(`trig-${Date.now().toString(36)}`, { command: "/bin/true" });
    const cron = await services.invoker.start({
      fn,
      mode: "sync",
      trigger: "cron",
      attributes: { "faas.cron": "* * * * *", "faas.time": "2026-11-28T00:00:00Z" },
    });
    await cron.stdout.pipeTo(new WritableStream());
    expect((await cron.result).status).toBe("succeeded");
    const http = await services.invoker.start({ fn, mode: "sync" });
    await http.stdout.pipeTo(new WritableStream());
    await http.result;
    const [first, second] = finished.slice(-2);
    expect(first?.trigger).toBe("cron");
    expect(toRow(first!, "node").trigger).toBe("cron");
    expect(second?.trigger).toBeUndefined();
    expect(toRow(second!, "node").trigger).toBe("http");
    // Whether a ready slot ran it is recorded too (no pool here: never warm).
    expect(first?.warm).toBe(false);
  }, 20_000);
});
