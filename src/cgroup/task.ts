/**
 * A task's cgroup as a set of directories: one per v1 hierarchy it joined
 * and/or one on the cgroup2 mount. Membership, kill and removal work the same
 * on every layout; only limits and stats read different files.
 */
import { existsSync } from "node:fs";
import {
  CgroupError,
  errnoOf,
  OpenFile,
  parseKeyed,
  parseNumber,
  readFileOrNull,
  readKeyed,
  removeDir,
  subdirs,
  tryRmdir,
  writeFile,
} from "./fs.ts";
import type { CgroupLayout, CgroupPeaks, CgroupStats, TaskCgroup } from "./types.ts";
import { type V1Dirs, v1Stats } from "./v1.ts";
import { v2CpuStats, v2Stats } from "./v2.ts";

export interface TaskDirs {
  layout: CgroupLayout;
  /** v1 controller -> directory (empty on pure v2). */
  v1: V1Dirs;
  /** The task's directory on the cgroup2 mount, if the host has one. */
  unified: string | null;
}

/** Each directory once (co-mounted controllers share one), the cgroup2 one last. */
export function hierarchyDirs(dirs: TaskDirs): string[] {
  const unique = [...new Set(dirs.v1.values())];
  return dirs.unified === null ? unique : [...unique, dirs.unified];
}

/**
 * The cgroup.procs files a child must still write after being created: all
 * of them, or all but the cgroup2 one when clone3(CLONE_INTO_CGROUP) already
 * placed it there.
 */
export function joinPaths(cgroup: TaskCgroup, clonedIntoUnified: boolean): string[] {
  const unifiedProcs = cgroup.unifiedDir === null ? null : `${cgroup.unifiedDir}/cgroup.procs`;
  return cgroup.procsPaths.filter((p) => !(clonedIntoUnified && p === unifiedProcs));
}

/** Up to ~5 s: SIGKILL is asynchronous, and a forking task refills the list between rounds. */
const KILL_ROUNDS = 520;

/** Processes in the cgroup and in any sub-cgroup the task made below it. */
function readProcs(dir: string): number[] {
  const text = readFileOrNull(`${dir}/cgroup.procs`) ?? "";
  const pids = text
    .split("\n")
    .filter((line) => line !== "")
    .map(Number);
  for (const sub of subdirs(dir)) pids.push(...readProcs(`${dir}/${sub}`));
  return pids;
}

function sigkill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch (err) {
    if (errnoOf(err) !== "ESRCH") throw new CgroupError(`kill ${pid}: ${errnoOf(err) ?? String(err)}`);
  }
}

interface PeakFiles {
  oom: OpenFile | null;
  memory: OpenFile | null;
  pids: OpenFile | null;
}

export class CgroupTask implements TaskCgroup {
  readonly name: string;
  readonly procsPaths: readonly string[];
  readonly unifiedDir: string | null;
  readonly #dirs: TaskDirs;
  #peaks: PeakFiles | null = null;

  constructor(name: string, dirs: TaskDirs) {
    this.name = name;
    this.#dirs = dirs;
    this.unifiedDir = dirs.unified;
    this.procsPaths = hierarchyDirs(dirs).map((dir) => `${dir}/cgroup.procs`);
  }

  /** Union over hierarchies: a process that joined only some of them still counts. */
  pids(): number[] {
    const all = new Set<number>();
    for (const dir of hierarchyDirs(this.#dirs)) for (const pid of readProcs(dir)) all.add(pid);
    return [...all].sort((a, b) => a - b);
  }

  stats(): CgroupStats {
    const { layout, v1, unified } = this.#dirs;
    if (layout === "v2" && unified !== null) return v2Stats(unified);
    const stats = v1Stats(v1);
    // Hybrid: the cgroup2 directory's cpu.stat gives user/system time
    // without attaching to the separate v1 cpuacct hierarchy.
    if (unified !== null) stats.cpu = { ...stats.cpu, ...v2CpuStats(unified) };
    return stats;
  }

  /**
   * The files a task's end reads, opened once (at creation for a new task):
   * the end of a task, on the invocation's path, then reads without a path walk.
   */
  #peakFiles(): PeakFiles {
    if (this.#peaks) return this.#peaks;
    const { layout, v1, unified } = this.#dirs;
    const v2 = layout === "v2" && unified !== null;
    const memory = v2 ? unified : v1.get("memory");
    const pids = v2 ? unified : v1.get("pids");
    this.#peaks = {
      oom: memory ? OpenFile.open(`${memory}/${v2 ? "memory.events" : "memory.oom_control"}`) : null,
      memory: memory ? OpenFile.open(`${memory}/${v2 ? "memory.peak" : "memory.max_usage_in_bytes"}`) : null,
      pids: pids ? OpenFile.open(`${pids}/pids.peak`) : null,
    };
    return this.#peaks;
  }

  /** Opens the files peaks() reads, ahead of the task's end. */
  watchPeaks(): void {
    this.#peakFiles();
  }

  peaks(): CgroupPeaks {
    const files = this.#peakFiles();
    const peaks: CgroupPeaks = { oomKilled: this.oomKilled() };
    const memoryBytes = parseNumber(files.memory?.read());
    const pidsPeak = parseNumber(files.pids?.read());
    if (memoryBytes !== undefined) peaks.memoryBytes = memoryBytes;
    if (pidsPeak !== undefined) peaks.pids = pidsPeak;
    return peaks;
  }

  oomKilled(): boolean {
    const text = this.#peakFiles().oom?.read();
    return (text ? (parseKeyed(text).get("oom_kill") ?? 0) : 0) > 0;
  }

  /**
   * cgroup.kill (cgroup2, kernel 5.14+) kills atomically, forks included. The
   * SIGKILL rounds after it are the whole mechanism on pure v1 and a safety
   * net elsewhere (a process that joined only v1 hierarchies); they end when
   * every hierarchy reads empty, so the caller may rmdir right away.
   */
  async kill(): Promise<void> {
    this.#writeCgroupKill();
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const pids = this.pids();
      if (pids.length === 0) return;
      if (pids.includes(process.pid)) {
        throw new CgroupError(`kill ${this.name}: refusing, this server (pid ${process.pid}) is inside it`);
      }
      for (const pid of pids) sigkill(pid);
      await Bun.sleep(round < 20 ? 1 : 10);
    }
    throw new CgroupError(`kill ${this.name}: processes ${this.pids().join(" ")} survived SIGKILL`);
  }

  #writeCgroupKill(): void {
    const unified = this.#dirs.unified;
    if (unified === null || !existsSync(`${unified}/cgroup.kill`)) return;
    // Nothing to kill when it was never populated; skip the write.
    if (readKeyed(`${unified}/cgroup.events`)?.get("populated") === 0) return;
    writeFile(`${unified}/cgroup.kill`, "1");
  }

  get dirs(): readonly string[] {
    return hierarchyDirs(this.#dirs);
  }

  closeFiles(): void {
    if (this.#peaks) for (const f of Object.values(this.#peaks)) f?.close();
  }

  async remove(): Promise<void> {
    this.closeFiles();
    // The common end: the task is gone and made no sub-cgroups, so one rmdir per hierarchy
    // does it. rmdir refuses (EBUSY) a cgroup with a process or a child in it, so trying
    // first loses nothing; only then are the processes listed, killed, and children removed.
    if (hierarchyDirs(this.#dirs).every(tryRmdir)) return;
    if (this.pids().length > 0) await this.kill();
    for (const dir of hierarchyDirs(this.#dirs)) await removeTree(dir);
  }
}

/** Sub-cgroups a task made inside its own (rmdir refuses a parent with children) go first. */
async function removeTree(dir: string): Promise<void> {
  for (const child of subdirs(dir)) await removeTree(`${dir}/${child}`);
  await removeDir(dir);
}
