/**
 * cgroup v1: one hierarchy per controller (or co-mounted group), limits in
 * each. One function per controller, each returning early when its limit is
 * unset, in the spirit of nsjail's cgroup2.cc.
 */
import { dirname } from "node:path";
import { compact, kernelHasFile, makeDir, readFile, readKeyed, readNumber, writeFile } from "./fs.ts";
import { CFS_PERIOD_USEC, clampShares, type HostCpu, quotaUsec } from "./limits.ts";
import type { CgroupLimits, CgroupStats } from "./types.ts";

/** v1 controller -> this task's directory in the hierarchy carrying it. */
export type V1Dirs = ReadonlyMap<string, string>;

/**
 * Creates the shared parent (`<mount>/bunker`). A new cpuset cgroup starts
 * with empty cpus/mems and refuses tasks, so the parent copies the root's.
 */
export function prepareV1Parent(controller: string, parentDir: string): void {
  makeDir(parentDir);
  if (controller === "cpuset") inheritCpuset(parentDir);
}

function inheritCpuset(dir: string): void {
  const parent = dirname(dir);
  for (const file of ["cpuset.mems", "cpuset.cpus"]) {
    if (readFile(`${dir}/${file}`).trim() !== "") continue;
    writeFile(`${dir}/${file}`, readFile(`${parent}/${file}`).trim());
  }
}

/** The limit files to write, in order, as [path, value]: pure, so a task's first process can write them. */
export function v1LimitWrites(
  dirs: V1Dirs,
  limits: CgroupLimits,
  hostCpu: () => HostCpu,
): [string, string][] {
  return [
    ...memoryWrites(dirs.get("memory"), limits),
    ...cpuWrites(dirs.get("cpu"), limits, hostCpu),
    ...cpusetWrites(dirs.get("cpuset"), limits),
    ...pidsWrites(dirs.get("pids"), limits),
  ];
}

function memoryWrites(dir: string | undefined, limits: CgroupLimits): [string, string][] {
  if (dir === undefined) return [];
  const w: [string, string][] = [];
  if (limits.memoryReservationBytes !== undefined) {
    w.push([`${dir}/memory.soft_limit_in_bytes`, String(limits.memoryReservationBytes)]);
  }
  if (limits.memoryBytes === undefined) return w;
  w.push([`${dir}/memory.limit_in_bytes`, String(limits.memoryBytes)]);
  // Without this the task could exceed its limit by swapping. memsw must be
  // >= the memory limit, hence after it; it exists only with swap accounting
  // (asked of the parent: the task's directory may not exist yet).
  if (kernelHasFile(dirname(dir), "memory.memsw.limit_in_bytes")) {
    w.push([`${dir}/memory.memsw.limit_in_bytes`, String(limits.memoryBytes)]);
  }
  return w;
}

function cpuWrites(
  dir: string | undefined,
  limits: CgroupLimits,
  hostCpu: () => HostCpu,
): [string, string][] {
  if (dir === undefined) return [];
  const w: [string, string][] = [[`${dir}/cpu.shares`, String(clampShares(limits.cpuShares))]];
  if (limits.cpuQuotaMhz === undefined) return w;
  w.push([`${dir}/cpu.cfs_period_us`, String(CFS_PERIOD_USEC)]);
  w.push([`${dir}/cpu.cfs_quota_us`, String(quotaUsec(limits.cpuQuotaMhz, hostCpu()))]);
  return w;
}

/** mems first: the kernel refuses tasks while either list is empty. */
function cpusetWrites(dir: string | undefined, limits: CgroupLimits): [string, string][] {
  if (dir === undefined || limits.cpus === undefined) return [];
  return [
    [`${dir}/cpuset.mems`, readFile(`${dirname(dir)}/cpuset.mems`).trim()],
    [`${dir}/cpuset.cpus`, limits.cpus],
  ];
}

function pidsWrites(dir: string | undefined, limits: CgroupLimits): [string, string][] {
  if (dir === undefined || limits.pids === undefined) return [];
  return [[`${dir}/pids.max`, String(limits.pids)]];
}

const div = (n: number | undefined, by: number) => (n === undefined ? undefined : Math.round(n / by));

function memoryStats(dir: string | undefined): CgroupStats["memory"] {
  if (dir === undefined) return {};
  const stat = readKeyed(`${dir}/memory.stat`);
  return compact({
    usageBytes: readNumber(`${dir}/memory.usage_in_bytes`),
    peakBytes: readNumber(`${dir}/memory.max_usage_in_bytes`),
    rssBytes: stat?.get("total_rss"),
    cacheBytes: stat?.get("total_cache"),
    swapBytes: stat?.get("total_swap"),
    kernelBytes: readNumber(`${dir}/memory.kmem.usage_in_bytes`),
  });
}

/** cpu.stat has only throttling on v1; usage lives in cpuacct (often a separate hierarchy). */
function cpuStats(cpuDir: string | undefined, cpuacctDir: string | undefined): CgroupStats["cpu"] {
  const stat = cpuDir === undefined ? null : readKeyed(`${cpuDir}/cpu.stat`);
  const acct = (file: string) => (cpuacctDir === undefined ? undefined : readNumber(`${cpuacctDir}/${file}`));
  return compact({
    usageUsec: div(acct("cpuacct.usage"), 1000),
    userUsec: div(acct("cpuacct.usage_user"), 1000),
    systemUsec: div(acct("cpuacct.usage_sys"), 1000),
    periods: stat?.get("nr_periods"),
    throttledPeriods: stat?.get("nr_throttled"),
    throttledUsec: div(stat?.get("throttled_time"), 1000),
  });
}

export function pidsStats(dir: string | undefined): CgroupStats["pids"] {
  if (dir === undefined) return {};
  return compact({ current: readNumber(`${dir}/pids.current`), peak: readNumber(`${dir}/pids.peak`) });
}

export function v1Stats(dirs: V1Dirs): CgroupStats {
  return {
    memory: memoryStats(dirs.get("memory")),
    cpu: cpuStats(dirs.get("cpu"), dirs.get("cpuacct")),
    pids: pidsStats(dirs.get("pids")),
  };
}
