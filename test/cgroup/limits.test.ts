import { describe, expect, test } from "bun:test";
import { CgroupError, clampShares, quotaUsec, sharesToWeight } from "../../src/cgroup/index.ts";
import { checkLimits, checkName, readHostCpu } from "../../src/cgroup/limits.ts";

describe("unit conversions", () => {
  test("shares are clamped to Linux's [2, 262144]", () => {
    expect(clampShares(0)).toBe(2);
    expect(clampShares(100)).toBe(100);
    expect(clampShares(1_000_000)).toBe(262144);
  });

  test("cpu.weight follows runc's mapping", () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(1)).toBe(1); // clamped first
  });

  test("CFS quota is the MHz share of the whole host times its CPUs", () => {
    const host = { totalMhz: 4000, ncpu: 2 };
    expect(quotaUsec(2000, host)).toBe(100_000); // half of 2 CPUs = one CPU per period
    expect(quotaUsec(4000, host)).toBe(200_000);
    expect(quotaUsec(1, host)).toBe(1000); // kernel minimum
  });

  test("host compute is read from /proc/cpuinfo", () => {
    const host = readHostCpu();
    expect(host.ncpu).toBeGreaterThan(0);
    expect(host.totalMhz).toBeGreaterThan(0);
  });
});

describe("validation before any side effect", () => {
  test("names must be one safe path component", () => {
    for (const bad of ["", "..", "a/b", ".hidden", "x y"]) expect(() => checkName(bad)).toThrow(CgroupError);
    expect(() => checkName("task-1_a.b@c")).not.toThrow();
  });

  test("limits must be positive integers and a cpuset list", () => {
    expect(() => checkLimits({ cpuShares: 100, memoryBytes: -1 })).toThrow(/memoryBytes/);
    expect(() => checkLimits({ cpuShares: 100, pids: 1.5 })).toThrow(/pids/);
    expect(() => checkLimits({ cpuShares: Number.NaN })).toThrow(/cpuShares/);
    expect(() => checkLimits({ cpuShares: 100, cpuQuotaMhz: 0 })).toThrow(/cpuQuotaMhz/);
    expect(() => checkLimits({ cpuShares: 100, cpus: "0;1" })).toThrow(/cpus/);
    expect(() =>
      checkLimits({ cpuShares: 100, cpus: "0-1,3", memoryBytes: 1 << 20, pids: 10 }),
    ).not.toThrow();
  });

  test("a CgroupError carries code cgroup", () => {
    try {
      checkName("a/b");
      throw new Error("unreachable");
    } catch (err) {
      expect(err).toBeInstanceOf(CgroupError);
      expect((err as CgroupError).code).toBe("cgroup");
    }
  });
});
