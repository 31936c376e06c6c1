/**
 * A task's resource usage in Nomad's TaskResourceUsage shape (what `nomad alloc status -stats`
 * and `/v1/client/allocation/:id/stats` show), read from the task's cgroup on either layout.
 *
 * As in Nomad, SystemMode, UserMode and Percent are percentages of one core over the time since
 * the previous sample (the first sample covers the time since the task started), and TotalTicks
 * is Percent turned into MHz of one core. ThrottledTime is in nanoseconds. `Measured` lists the
 * fields this layout really measured; the others are 0. Unlike Nomad on cgroup v2 (issue
 * #19855), MaxUsage is the cgroup's peak (memory.peak) whenever the kernel has one.
 */
import { readHostCpu } from "../cgroup/limits.ts";
import type { CgroupStats } from "../cgroup/types.ts";

export interface MemoryStats {
  RSS: number;
  Cache: number;
  Swap: number;
  MappedFile: number;
  Usage: number;
  MaxUsage: number;
  KernelUsage: number;
  KernelMaxUsage: number;
  Measured: string[];
}

export interface CpuStats {
  SystemMode: number;
  UserMode: number;
  TotalTicks: number;
  ThrottledPeriods: number;
  ThrottledTime: number;
  Percent: number;
  Measured: string[];
}

/** Bunker's addition: processes in the task's cgroup. */
export interface PidsStats {
  Current: number;
  Peak: number;
  Measured: string[];
}

export interface TaskStats {
  ResourceUsage: { MemoryStats: MemoryStats; CpuStats: CpuStats; PidsStats: PidsStats };
  /** Unix time of the sample in nanoseconds, like Nomad's. */
  Timestamp: number;
  /** Nomad's per-pid stats; Bunker reports the group only. */
  Pids: null;
}

interface CpuSample {
  atMs: number;
  userUsec: number;
  systemUsec: number;
  totalUsec: number;
}

let mhzPerCore: number | undefined;

/** One core's MHz (Nomad's cpu.totalcompute / cores); 0 when the host does not say. */
function coreMhz(): number {
  if (mhzPerCore === undefined) {
    try {
      const host = readHostCpu();
      mhzPerCore = host.totalMhz / host.ncpu;
    } catch {
      mhzPerCore = 0;
    }
  }
  return mhzPerCore;
}

function memoryStats(m: CgroupStats["memory"]): MemoryStats {
  const measured: string[] = [];
  const pick = (value: number | undefined, name: string) => {
    if (value === undefined) return 0;
    measured.push(name);
    return value;
  };
  return {
    RSS: pick(m.rssBytes, "RSS"),
    Cache: pick(m.cacheBytes, "Cache"),
    Swap: pick(m.swapBytes, "Swap"),
    MappedFile: 0,
    Usage: pick(m.usageBytes, "Usage"),
    MaxUsage: pick(m.peakBytes, "Max Usage"),
    KernelUsage: pick(m.kernelBytes, "Kernel Usage"),
    KernelMaxUsage: 0,
    Measured: measured,
  };
}

/** Turns cumulative cgroup counters into Nomad's per-interval percentages. */
export class StatsSampler {
  private prev: CpuSample;

  /** `startedAtMs` (Date.now() at start) is the zero point of the first interval. */
  constructor(startedAtMs: number) {
    this.prev = { atMs: startedAtMs, userUsec: 0, systemUsec: 0, totalUsec: 0 };
  }

  sample(stats: CgroupStats, nowMs = Date.now()): TaskStats {
    const c = stats.cpu;
    const known = c.userUsec !== undefined && c.systemUsec !== undefined;
    const userUsec = c.userUsec ?? 0;
    const systemUsec = c.systemUsec ?? 0;
    const totalUsec = c.usageUsec ?? userUsec + systemUsec;
    const wallUsec = Math.max(1, (nowMs - this.prev.atMs) * 1000);
    const pct = (delta: number) => Math.max(0, (delta / wallUsec) * 100);
    const prev = this.prev;
    const percent = pct(totalUsec - prev.totalUsec);
    this.prev = { atMs: nowMs, userUsec, systemUsec, totalUsec };
    const measured = [
      ...(known ? ["System Mode", "User Mode"] : []),
      ...(c.usageUsec !== undefined || known ? ["Percent", "Total Ticks"] : []),
      ...(c.throttledPeriods !== undefined ? ["Throttled Periods"] : []),
      ...(c.throttledUsec !== undefined ? ["Throttled Time"] : []),
    ];
    return {
      ResourceUsage: {
        MemoryStats: memoryStats(stats.memory),
        CpuStats: {
          SystemMode: pct(systemUsec - prev.systemUsec),
          UserMode: pct(userUsec - prev.userUsec),
          TotalTicks: (percent / 100) * coreMhz(),
          ThrottledPeriods: c.throttledPeriods ?? 0,
          ThrottledTime: (c.throttledUsec ?? 0) * 1000,
          Percent: percent,
          Measured: measured,
        },
        PidsStats: {
          Current: stats.pids.current ?? 0,
          Peak: stats.pids.peak ?? 0,
          Measured: [
            ...(stats.pids.current !== undefined ? ["Current"] : []),
            ...(stats.pids.peak !== undefined ? ["Peak"] : []),
          ],
        },
      },
      Timestamp: nowMs * 1_000_000,
      Pids: null,
    };
  }
}

/**
 * Samples every `intervalMs` until the task ends: the first sample at once, the stream ends
 * (without an error) when `done` settles or a read fails because the task's cgroup is gone.
 */
export async function* statsStream(
  read: () => TaskStats,
  done: Promise<unknown>,
  isFinished: () => boolean,
  intervalMs: number,
): AsyncGenerator<TaskStats, void, undefined> {
  let ended = false;
  const end = done.then(
    () => {
      ended = true;
    },
    () => {
      ended = true;
    },
  );
  while (!ended && !isFinished()) {
    let stats: TaskStats;
    try {
      stats = read();
    } catch (err) {
      if (isFinished()) return;
      throw err;
    }
    yield stats;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([end, new Promise<void>((r) => (timer = setTimeout(r, Math.max(1, intervalMs))))]);
    clearTimeout(timer);
  }
}
