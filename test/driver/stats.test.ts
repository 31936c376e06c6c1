/**
 * Task stats in Nomad's TaskResourceUsage shape: the arithmetic on fixed counters, then a real
 * busy task read through its cgroup on whatever layout this host has.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CgroupStats } from "../../src/cgroup/types.ts";
import { parsePluginConfig, parseTask } from "../../src/driver/config.ts";
import { createExecDriver } from "../../src/driver/exec.ts";
import { StatsSampler, type TaskStats } from "../../src/driver/stats.ts";

const isRoot = process.getuid?.() === 0;
const TIMEOUT = 30_000;

describe("StatsSampler", () => {
  const at = (cpu: CgroupStats["cpu"]): CgroupStats => ({
    memory: { usageBytes: 4096, peakBytes: 8192, rssBytes: 1024, cacheBytes: 2048 },
    cpu,
    pids: { current: 2, peak: 3 },
  });

  test("percentages cover the interval since the previous sample", () => {
    const s = new StatsSampler(1000);
    // 500 ms of CPU in the first second: 50 %.
    const first = s.sample(at({ usageUsec: 500_000, userUsec: 400_000, systemUsec: 100_000 }), 2000);
    expect(first.ResourceUsage.CpuStats.Percent).toBeCloseTo(50);
    expect(first.ResourceUsage.CpuStats.UserMode).toBeCloseTo(40);
    expect(first.ResourceUsage.CpuStats.SystemMode).toBeCloseTo(10);
    // Two full cores for the next half second: 200 %.
    const second = s.sample(at({ usageUsec: 1_500_000, userUsec: 1_400_000, systemUsec: 100_000 }), 2500);
    expect(second.ResourceUsage.CpuStats.Percent).toBeCloseTo(200);
    expect(second.ResourceUsage.CpuStats.SystemMode).toBeCloseTo(0);
    expect(second.Timestamp).toBe(2500 * 1_000_000);
  });

  test("memory and pids in Nomad's names; Measured lists only what the layout had", () => {
    const s = new StatsSampler(0);
    const r = s.sample(at({ usageUsec: 1, throttledPeriods: 3, throttledUsec: 7 }), 10).ResourceUsage;
    expect(r.MemoryStats).toEqual({
      RSS: 1024,
      Cache: 2048,
      Swap: 0,
      MappedFile: 0,
      Usage: 4096,
      MaxUsage: 8192,
      KernelUsage: 0,
      KernelMaxUsage: 0,
      Measured: ["RSS", "Cache", "Usage", "Max Usage"],
    });
    expect(r.CpuStats.ThrottledPeriods).toBe(3);
    expect(r.CpuStats.ThrottledTime).toBe(7000);
    expect(r.CpuStats.Measured).toEqual(["Percent", "Total Ticks", "Throttled Periods", "Throttled Time"]);
    expect(r.PidsStats).toEqual({ Current: 2, Peak: 3, Measured: ["Current", "Peak"] });
  });
});

if (!isRoot) console.log("task stats tests skipped: the exec driver needs root (uid 0)");

describe.skipIf(!isRoot)("stats of a real task (as root)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "bunker-stats-"));
  const plugin = parsePluginConfig({});
  const driver = createExecDriver({ plugin, dataDir });
  afterAll(() => {
    Bun.spawnSync(["umount", join(dataDir, "tasks")]);
    rmSync(dataDir, { recursive: true, force: true });
  });
  const start = (script: string) =>
    driver.start(
      parseTask(
        { name: `stats-${process.pid}`, config: { command: "/bin/sh", args: ["-c", script] } },
        plugin,
      ),
    );

  test(
    "a busy task shows CPU > 0 and memory > 0; the stream ends when it exits",
    async () => {
      const handle = await start("while :; do :; done");
      let busy: TaskStats | undefined;
      let samples = 0;
      let stopping = false;
      for await (const s of handle.statsStream(20)) {
        samples++;
        const { CpuStats, MemoryStats } = s.ResourceUsage;
        if (CpuStats.Percent > 0 && MemoryStats.Usage + MemoryStats.RSS > 0) {
          busy = s;
          if (samples >= 2 && !stopping) {
            stopping = true;
            void handle.stop({ signal: "SIGKILL" });
          }
        }
      }
      const outcome = await handle.wait();
      expect(outcome.reason).toBe("stopped");
      expect(busy?.ResourceUsage.CpuStats.Percent).toBeGreaterThan(0);
      expect(busy?.ResourceUsage.CpuStats.UserMode).toBeGreaterThan(0);
      expect(busy?.ResourceUsage.CpuStats.Measured).toContain("Percent");
      expect(busy?.ResourceUsage.MemoryStats.Measured).toContain("Usage");
      expect(busy?.ResourceUsage.PidsStats.Current).toBeGreaterThan(0);
      expect(() => handle.stats()).toThrow("has ended");
    },
    TIMEOUT,
  );

  test(
    "the stream of a task that exits by itself ends on its own",
    async () => {
      const handle = await start("exit 3");
      const seen: TaskStats[] = [];
      for await (const s of handle.statsStream(10)) seen.push(s);
      expect((await handle.wait()).exitCode).toBe(3);
      expect(seen.length).toBeLessThan(1000);
    },
    TIMEOUT,
  );
});
