/**
 * cgroup v2: one tree, controllers enabled top-down through
 * cgroup.subtree_control. Tasks live in leaves only (the no-internal-process
 * rule): the parent `bunker.slice` never holds a process itself.
 */
import { dirname } from "node:path";
import { compact, kernelHasFile, makeDir, readFile, readKeyed, readNumber, writeFile } from "./fs.ts";
import { CFS_PERIOD_USEC, type HostCpu, quotaUsec, sharesToWeight } from "./limits.ts";
import type { CgroupLimits, CgroupStats } from "./types.ts";
import { pidsStats } from "./v1.ts";

/** Controllers a task needs delegated to its parent. */
export function neededControllers(limits: CgroupLimits): string[] {
  return limits.cpus === undefined ? ["memory", "cpu", "pids"] : ["memory", "cpu", "pids", "cpuset"];
}

/**
 * Creates `parentDir` and enables `controllers` in the subtree_control of the
 * mount root and of the parent, so the task's leaf gets their files.
 */
export function prepareV2Parent(mount: string, parentDir: string, controllers: string[]): void {
  makeDir(parentDir);
  for (const dir of [mount, parentDir]) enableControllers(dir, controllers);
}

function enableControllers(dir: string, controllers: string[]): void {
  const file = `${dir}/cgroup.subtree_control`;
  const enabled = readFile(file).split(/\s+/);
  const missing = controllers.filter((c) => !enabled.includes(c));
  if (missing.length === 0) return;
  // EBUSY here means the cgroup holds processes (no internal processes), as
  // on a container's namespace root; EINVAL/ENOENT that the controller is not available.
  writeFile(
    file,
    missing.map((c) => `+${c}`).join(" "),
    `enabling ${missing.join(", ")}; ${dir} must hold no processes and list them in cgroup.controllers`,
  );
}

/** The limit files to write, in order, as [path, value]: pure, so a task's first process can write them. */
export function v2LimitWrites(dir: string, limits: CgroupLimits, hostCpu: () => HostCpu): [string, string][] {
  const w: [string, string][] = [];
  if (limits.memoryReservationBytes !== undefined) {
    w.push([`${dir}/memory.low`, String(limits.memoryReservationBytes)]);
  }
  if (limits.memoryBytes !== undefined) {
    w.push([`${dir}/memory.max`, String(limits.memoryBytes)]);
    // v2 accounts swap separately: without 0 here the task could swap past memory.max.
    // Asked of the parent (a non-root cgroup too): the task's directory may not exist yet.
    if (kernelHasFile(dirname(dir), "memory.swap.max")) w.push([`${dir}/memory.swap.max`, "0"]);
  }
  w.push([`${dir}/cpu.weight`, String(sharesToWeight(limits.cpuShares))]);
  if (limits.cpuQuotaMhz !== undefined) {
    w.push([`${dir}/cpu.max`, `${quotaUsec(limits.cpuQuotaMhz, hostCpu())} ${CFS_PERIOD_USEC}`]);
  }
  if (limits.cpus !== undefined) w.push([`${dir}/cpuset.cpus`, limits.cpus]);
  if (limits.pids !== undefined) w.push([`${dir}/pids.max`, String(limits.pids)]);
  return w;
}

/**
 * CPU time from cpu.stat. Its usage/user/system lines exist on every cgroup2
 * directory even without the cpu controller, which is how hybrid hosts get
 * accounting without attaching to the v1 cpuacct hierarchy.
 */
export function v2CpuStats(dir: string): CgroupStats["cpu"] {
  const stat = readKeyed(`${dir}/cpu.stat`);
  return compact({
    usageUsec: stat?.get("usage_usec"),
    userUsec: stat?.get("user_usec"),
    systemUsec: stat?.get("system_usec"),
    periods: stat?.get("nr_periods"),
    throttledPeriods: stat?.get("nr_throttled"),
    throttledUsec: stat?.get("throttled_usec"),
  });
}

export function v2Stats(dir: string): CgroupStats {
  const stat = readKeyed(`${dir}/memory.stat`);
  return {
    memory: compact({
      usageBytes: readNumber(`${dir}/memory.current`),
      peakBytes: readNumber(`${dir}/memory.peak`),
      rssBytes: stat?.get("anon"),
      cacheBytes: stat?.get("file"),
      swapBytes: readNumber(`${dir}/memory.swap.current`),
      kernelBytes: stat?.get("kernel"),
    }),
    cpu: v2CpuStats(dir),
    pids: pidsStats(dir),
  };
}
