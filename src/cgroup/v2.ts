/**
 * cgroup v2: one tree, controllers enabled top-down through
 * cgroup.subtree_control. Tasks live in leaves only (the no-internal-process
 * rule): the parent `bunker.slice` never holds a process itself.
 */
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

export function applyV2Limits(dir: string, limits: CgroupLimits, hostCpu: () => HostCpu): void {
  setMemory(dir, limits);
  setCpu(dir, limits, hostCpu);
  setCpuset(dir, limits);
  setPids(dir, limits);
}

function setMemory(dir: string, limits: CgroupLimits): void {
  if (limits.memoryReservationBytes !== undefined) {
    writeFile(`${dir}/memory.low`, String(limits.memoryReservationBytes));
  }
  if (limits.memoryBytes === undefined) return;
  writeFile(`${dir}/memory.max`, String(limits.memoryBytes));
  // v2 accounts swap separately: without 0 here the task could swap past memory.max.
  if (kernelHasFile(dir, "memory.swap.max")) {
    writeFile(`${dir}/memory.swap.max`, "0");
  }
}

function setCpu(dir: string, limits: CgroupLimits, hostCpu: () => HostCpu): void {
  writeFile(`${dir}/cpu.weight`, String(sharesToWeight(limits.cpuShares)));
  if (limits.cpuQuotaMhz === undefined) return;
  writeFile(`${dir}/cpu.max`, `${quotaUsec(limits.cpuQuotaMhz, hostCpu())} ${CFS_PERIOD_USEC}`);
}

function setCpuset(dir: string, limits: CgroupLimits): void {
  if (limits.cpus === undefined) return;
  writeFile(`${dir}/cpuset.cpus`, limits.cpus);
}

function setPids(dir: string, limits: CgroupLimits): void {
  if (limits.pids === undefined) return;
  writeFile(`${dir}/pids.max`, String(limits.pids));
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
