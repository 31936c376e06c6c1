/**
 * Pure conversions from Nomad's units to cgroup file values, shared by v1 and
 * v2, plus the limit checks that run before anything is created.
 */
import { availableParallelism } from "node:os";
import { CgroupError, readFileOrNull } from "./fs.ts";
import type { CgroupLimits } from "./types.ts";

/** Linux's bounds for cpu.shares; Nomad clamps its MHz into them. */
export const MIN_SHARES = 2;
export const MAX_SHARES = 262144;
/** The kernel default CFS period; quotas are expressed against it. */
export const CFS_PERIOD_USEC = 100_000;
/** The kernel refuses quotas below 1 ms. */
const MIN_QUOTA_USEC = 1000;

export function clampShares(shares: number): number {
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, Math.round(shares)));
}

/** runc's cpu.shares -> cpu.weight mapping ([2, 262144] -> [1, 10000]), so both layouts weigh tasks alike. */
export function sharesToWeight(shares: number): number {
  const s = clampShares(shares);
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

export interface HostCpu {
  /** Sum of every core's MHz: Nomad's cpu.totalcompute. */
  totalMhz: number;
  ncpu: number;
}

/** CFS quota (µs per period) giving `mhz` of the host's total compute. */
export function quotaUsec(mhz: number, host: HostCpu, periodUsec = CFS_PERIOD_USEC): number {
  const quota = Math.round((mhz / host.totalMhz) * host.ncpu * periodUsec);
  return Math.max(MIN_QUOTA_USEC, quota);
}

/**
 * The host's compute from /proc/cpuinfo ("cpu MHz" per processor), falling
 * back to cpufreq's max on machines (arm64) whose cpuinfo has no MHz.
 */
export function readHostCpu(): HostCpu {
  const ncpu = availableParallelism();
  const cpuinfo = readFileOrNull("/proc/cpuinfo") ?? "";
  const mhz = [...cpuinfo.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
  if (mhz.length > 0) return { totalMhz: mhz.reduce((a, b) => a + b, 0), ncpu: mhz.length };
  const khz = Number(readFileOrNull("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"));
  if (khz > 0) return { totalMhz: (khz / 1000) * ncpu, ncpu };
  throw new CgroupError("read /proc/cpuinfo: no cpu MHz, cannot turn cpuQuotaMhz into a CFS quota");
}

/** Task names become directory names in several hierarchies: one safe path component only. */
export function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,199}$/.test(name)) {
    throw new CgroupError(`invalid cgroup name ${JSON.stringify(name)}: use letters, digits, "_.@-"`);
  }
}

function checkPositiveInteger(field: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new CgroupError(`invalid cgroup limit ${field}: ${value} (must be a positive integer)`);
  }
}

/** Rejects nonsense before the first mkdir, so a bad request leaves nothing behind. */
export function checkLimits(limits: CgroupLimits): void {
  checkPositiveInteger("memoryBytes", limits.memoryBytes);
  checkPositiveInteger("memoryReservationBytes", limits.memoryReservationBytes);
  checkPositiveInteger("pids", limits.pids);
  if (!Number.isFinite(limits.cpuShares)) {
    throw new CgroupError(`invalid cgroup limit cpuShares: ${limits.cpuShares}`);
  }
  if (limits.cpuQuotaMhz !== undefined && !(limits.cpuQuotaMhz > 0)) {
    throw new CgroupError(`invalid cgroup limit cpuQuotaMhz: ${limits.cpuQuotaMhz} (must be > 0)`);
  }
  // The kernel is the judge of which CPUs exist; only the syntax is checked here.
  if (limits.cpus !== undefined && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(limits.cpus)) {
    throw new CgroupError(`invalid cgroup limit cpus: ${JSON.stringify(limits.cpus)} (a list like "0-1,3")`);
  }
}
