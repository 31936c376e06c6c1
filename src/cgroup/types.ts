/**
 * The cgroup layer's vocabulary. One interface for every layout; v1, v2 and
 * hybrid differ only in which files back it (see v1.ts, v2.ts, task.ts).
 */

/** How the host mounts cgroups (detect.ts). */
export type CgroupLayout = "v1" | "v2" | "hybrid";

/** What the driver asks for; unset fields leave the kernel default (no limit). */
export interface CgroupLimits {
  /** Hard memory limit; swap cannot be used to exceed it. */
  memoryBytes?: number;
  /** Soft limit the kernel reclaims down to under pressure (v1 soft_limit, v2 memory.low). */
  memoryReservationBytes?: number;
  /** Nomad's CPU MHz used as relative shares; clamped to [2, 262144] (v2: converted to cpu.weight). */
  cpuShares: number;
  /** Hard CPU cap in MHz of the host's total compute (Bunker extension; Nomad has none). */
  cpuQuotaMhz?: number;
  /** cpuset list such as "0-1" or "0,2" for `cores`; only then is the cpuset hierarchy used. */
  cpus?: string;
  /** Max processes (pids.max). */
  pids?: number;
}

/** Resource usage; a field is absent when this layout cannot tell. */
export interface CgroupStats {
  memory: {
    /** Current charge, page cache included. */
    usageBytes?: number;
    /** High-water mark of usageBytes. */
    peakBytes?: number;
    /** Anonymous memory (v1 total_rss, v2 anon). */
    rssBytes?: number;
    /** Page cache (v1 total_cache, v2 file). */
    cacheBytes?: number;
    swapBytes?: number;
    /** Kernel memory (v1 memory.kmem.usage_in_bytes, v2 memory.stat kernel). */
    kernelBytes?: number;
  };
  cpu: {
    usageUsec?: number;
    userUsec?: number;
    systemUsec?: number;
    /** CFS enforcement periods that elapsed / were throttled, and the time throttled. */
    periods?: number;
    throttledPeriods?: number;
    throttledUsec?: number;
  };
  pids: {
    current?: number;
    peak?: number;
  };
}

/** What a finished task is judged by: three small reads, cheap enough for the hot path. */
export interface CgroupPeaks {
  memoryBytes?: number;
  pids?: number;
  oomKilled: boolean;
}

/** One task's cgroup, spread over every hierarchy it needs. */
export interface TaskCgroup {
  readonly name: string;
  /**
   * cgroup.procs files a child writes "0" into before exec to join, one per
   * hierarchy (v1: memory, pids, cpu and cpuset only when `cpus` is set). The
   * cgroup2 one, when there is one, is last; a child cloned with
   * CLONE_INTO_CGROUP into `unifiedDir` is already there and skips it (see joinPaths).
   */
  readonly procsPaths: readonly string[];
  /** Directory on a cgroup2 mount for clone3(CLONE_INTO_CGROUP) (v2 and hybrid), else null. */
  readonly unifiedDir: string | null;
  /** Its directory in every hierarchy, the cgroup2 one last. */
  readonly dirs: readonly string[];
  /** Closes the files watchPeaks() opened (remove() does too). */
  closeFiles(): void;
  /** Every process in the cgroup, in any of its hierarchies. */
  pids(): number[];
  stats(): CgroupStats;
  /** Peak memory, peak pids and the OOM verdict, without the full stats() walk. */
  peaks(): CgroupPeaks;
  /** Opens the files peaks() reads, once the directories exist, so the task's end needs no path walk. */
  watchPeaks(): void;
  /** True when the kernel's OOM killer fired inside it; read after exit, not a notifier. */
  oomKilled(): boolean;
  /** SIGKILL every process, also ones forking meanwhile; resolves when it is empty. */
  kill(): Promise<void>;
  /** kill() if needed, then rmdir in every hierarchy (EBUSY retried briefly). Idempotent. */
  remove(): Promise<void>;
}

/** A task's cgroup (or what is left of it to make): the directories to make and the limit files to write, in order. */
export interface CgroupPlan {
  cgroup: TaskCgroup;
  /** The directory, already made, that the clone goes into (CLONE_INTO_CGROUP); null: the child joins by writing. */
  cloneInto: string | null;
  mkdirs: string[];
  /** [path, value] */
  writes: [string, string][];
  /** The parents were made by an earlier plan (so a failed mkdir may mean they were removed since). */
  parentsCached: boolean;
  /** Makes the parents again (after an mkdir found one missing). */
  retry(): void;
}

export interface CgroupManager {
  readonly layout: CgroupLayout;
  /** Creates the task's cgroup with its limits; throws CgroupError (EEXIST when it exists). */
  create(name: string, limits: CgroupLimits): TaskCgroup;
  /**
   * On v2 makes the task's directory now, for clone3's CLONE_INTO_CGROUP; with
   * v1 hierarchies returns everything, to be made by createRest while the child runs.
   */
  createForClone(name: string, limits: CgroupLimits): CgroupPlan;
  /** Makes what createForClone left; throws CgroupError. */
  createRest(plan: CgroupPlan): void;
  /** The existing cgroup of that name (e.g. after a restart), or null. */
  open(name: string): TaskCgroup | null;
  /** Names of every task cgroup under the parent, in any hierarchy. */
  list(): string[];
  /** Removes every task cgroup not in `keep` (leftovers of a crash); returns the names removed. */
  reconcile(keep: ReadonlySet<string>): Promise<string[]>;
}
