import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TaskHandle } from "../../src/driver/api.ts";
import { parsePluginConfig, parseTask } from "../../src/driver/config.ts";
import { createExecDriver } from "../../src/driver/exec.ts";
import { FDS_PER_SLOT, slotKey, WarmPool } from "../../src/pool/pool.ts";

const plugin = parsePluginConfig({});
const dataDir = mkdtempSync(join(tmpdir(), "bunker-pool-"));
const driver = createExecDriver({ plugin, dataDir });
const pools: WarmPool[] = [];

function pool(opts: Partial<ConstructorParameters<typeof WarmPool>[1]> = {}, d = driver) {
  const p = new WarmPool(d, { min: 1, max: 2, idleTtlMs: 60_000, globalMax: 8, ...opts });
  pools.push(p);
  return p;
}

function task(name: string, script: string, env: Record<string, string> = {}) {
  return parseTask({ name, config: { command: "/bin/sh", args: ["-c", script] }, env }, plugin);
}

async function output(h: TaskHandle): Promise<string> {
  const [text] = await Promise.all([new Response(h.stdout).text(), h.wait()]);
  return text;
}

/** Waits (bounded by the test timeout) until the pool holds `n` ready slots for the task. */
async function readySlots(p: WarmPool, name: string, n: number) {
  while ((p.stats()[name]?.ready ?? 0) < n) await Bun.sleep(5);
}

afterAll(async () => {
  for (const p of pools) await p.close();
  await driver.drain();
});

describe("warm pool", () => {
  test("the first start is cold, the next one is warm from a slot prepared in the background", async () => {
    const p = pool();
    const spec = task("warm-a", "echo hello");
    const first = await p.start(spec, { stdout: "pipe" });
    expect(first.warm).toBe(false);
    expect(await output(first)).toBe("hello\n");
    await readySlots(p, "warm-a", 1);
    const second = await p.start(spec, { stdout: "pipe" });
    expect(second.warm).toBe(true);
    expect(await output(second)).toBe("hello\n");
    expect(p.stats()["warm-a"]).toMatchObject({ warmStarts: 1, coldStarts: 1 });
  }, 20_000);

  test("settled() resolves once the refill after a start has landed", async () => {
    const p = pool({ min: 2, max: 2 });
    const spec = task("warm-settle", "true");
    p.warm(spec);
    await p.settled();
    expect(p.stats()["warm-settle"]).toMatchObject({ ready: 2, preparing: 0 });
    const h = await p.start(spec);
    await h.wait();
    await p.settled();
    expect(p.stats()["warm-settle"]).toMatchObject({ ready: 2, preparing: 0, warmStarts: 1 });
  }, 20_000);

  test("a function's own settings override the pool's: min ahead, max, and its idle TTL", async () => {
    const p = pool({ min: 1, max: 2, idleTtlMs: 60_000 });
    const spec = task("own-settings", "true");
    p.warm(spec, { min: 3, max: 3 });
    await p.settled();
    expect(p.stats()["own-settings"]?.ready).toBe(3);
    const short = task("own-ttl", "true");
    p.warm(short, { min: 1, idleTtlMs: 1 });
    await p.settled();
    expect(p.stats()["own-ttl"]?.ready).toBe(1);
    // The sweep empties the key whose own TTL passed, and keeps the other.
    await Bun.sleep(5);
    await (p as unknown as { sweep(): Promise<void> }).sweep();
    expect(p.stats()["own-ttl"]).toBeUndefined();
    expect(p.stats()["own-settings"]?.ready).toBe(3);
    // Settings given with a start apply from then on: min 0 keeps nothing ahead after it ends.
    const h = await p.start(spec, { pool: { min: 0, max: 3 } });
    await h.wait();
    await p.settled();
    expect(p.stats()["own-settings"]?.ready).toBe(2);
  }, 20_000);

  test("an idle slot costs the server at most FDS_PER_SLOT fds and well under a MiB of process memory", async () => {
    const p = pool({ min: 8, max: 8, globalMax: 16 });
    const spec = task("footprint", "true");
    // One slot first, so fds the driver opens once (bunker-init, /dev/null, its threads) are not counted.
    await (await driver.prepare(spec)).discard();
    const before = readdirSync("/proc/self/fd").length;
    p.warm(spec);
    await p.settled();
    const after = readdirSync("/proc/self/fd").length;
    const fp = p.footprint();
    expect(fp.slots).toBe(8);
    expect((after - before) / fp.slots).toBeLessThanOrEqual(FDS_PER_SLOT);
    expect(fp.fds).toBe(8 * FDS_PER_SLOT);
    expect(fp.pssBytes).toBeGreaterThan(0);
    expect(fp.pssBytes / fp.slots).toBeLessThan(1024 * 1024);
    expect(fp.slotCap).toBeLessThanOrEqual(16);
    await p.close();
    expect(readdirSync("/proc/self/fd").length).toBeLessThanOrEqual(before);
  }, 20_000);

  test("per-invocation env and args reach a warm slot", async () => {
    const p = pool();
    p.warm(task("warm-env", "echo $GREETING $0", { GREETING: "unused" }));
    await readySlots(p, "warm-env", 1);
    const spec = parseTask(
      {
        name: "warm-env",
        config: { command: "/bin/sh", args: ["-c", "echo $GREETING $0", "second-arg"] },
        env: { GREETING: "hi" },
      },
      plugin,
    );
    // args differ from the warmed spec: per-invocation, so the same slot serves it.
    expect(slotKey(spec)).toBe(slotKey(task("warm-env", "other", { GREETING: "x" })));
    const h = await p.start(spec, { stdout: "pipe" });
    expect(h.warm).toBe(true);
    expect(await output(h)).toBe("hi second-arg\n");
  }, 20_000);

  test("slots are single-use: nothing one invocation wrote is visible to the next", async () => {
    const p = pool({ min: 2, max: 3 });
    const spec = task("warm-iso", "ls /local /tmp; echo secret > /local/leak; echo secret > /tmp/leak");
    p.warm(spec);
    await readySlots(p, "warm-iso", 2);
    const a = await p.start(spec, { stdout: "pipe" });
    expect(a.warm).toBe(true);
    expect((await output(a)).trim()).toBe("/local:\n\n/tmp:");
    const b = await p.start(spec, { stdout: "pipe" });
    expect(b.warm).toBe(true);
    expect((await output(b)).trim()).toBe("/local:\n\n/tmp:");
  }, 20_000);

  test("a slot shaped differently (another user or limit) is a different key", () => {
    const a = task("k", "true");
    const b = parseTask(
      { name: "k", config: { command: "/bin/sh", args: ["-c", "true"] }, resources: { memory: 64 } },
      plugin,
    );
    expect(slotKey(a)).not.toBe(slotKey(b));
  });

  test("close() discards every ready slot: no task dir or cgroup is left", async () => {
    // A driver of its own, so the task dirs listed are this pool's only.
    const own = createExecDriver({ plugin, dataDir: mkdtempSync(join(tmpdir(), "bunker-pool-close-")) });
    const p = pool({ min: 2 }, own);
    p.warm(task("warm-close", "true"));
    await readySlots(p, "warm-close", 2);
    const ids = readdirSync(join(own.tasksRoot, "."));
    expect(ids.length).toBe(2);
    await p.close();
    await own.drain();
    expect(p.size()).toBe(0);
    expect(readdirSync(own.tasksRoot)).toEqual([]);
    for (const id of ids) {
      for (const c of ["memory", "pids", "cpu", "unified"]) {
        const base = c === "unified" ? "/sys/fs/cgroup/unified/bunker.slice" : `/sys/fs/cgroup/${c}/bunker`;
        expect(existsSync(`${base}/${id}`)).toBe(false);
      }
    }
  }, 20_000);

  test("a key unused for idleTtlMs is emptied", async () => {
    const p = pool({ idleTtlMs: 50 });
    p.warm(task("warm-ttl", "true"));
    await readySlots(p, "warm-ttl", 1);
    while (p.size() > 0) await Bun.sleep(20);
    expect(p.stats()["warm-ttl"]).toBeUndefined();
  }, 20_000);

  test("the pool never holds more than globalMax slots", async () => {
    const p = pool({ min: 3, max: 3, globalMax: 4 });
    p.warm(task("warm-g1", "true"));
    p.warm(task("warm-g2", "true"));
    await readySlots(p, "warm-g1", 3);
    await Bun.sleep(50);
    expect(p.size()).toBeLessThanOrEqual(4);
  }, 20_000);
});
