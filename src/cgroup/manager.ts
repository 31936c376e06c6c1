/**
 * Creates, finds and reconciles task cgroups under one parent
 * (`<mount>/bunker` per v1 hierarchy, `bunker.slice` on cgroup2).
 */
import { existsSync, rmdirSync } from "node:fs";
import { type CgroupLayoutInfo, cgroupProblem, detectCgroups } from "./detect.ts";
import { CgroupError, makeDir, subdirs, writeFile } from "./fs.ts";
import { checkLimits, checkName, type HostCpu, readHostCpu } from "./limits.ts";
import { CgroupTask, hierarchyDirs, type TaskDirs } from "./task.ts";
import type { CgroupLayout, CgroupLimits, CgroupManager, CgroupPlan, TaskCgroup } from "./types.ts";
import { prepareV1Parent, v1LimitWrites } from "./v1.ts";
import { neededControllers, prepareV2Parent, v2LimitWrites } from "./v2.ts";

export interface CgroupManagerOptions {
  /** Parent name: `<mount>/<parent>` per v1 hierarchy, `<parent>.slice` on cgroup2. Default "bunker". */
  parent?: string;
  /** A detection result; default detectCgroups(). */
  info?: CgroupLayoutInfo;
  /** Host compute for cpuQuotaMhz; default /proc/cpuinfo, read on first use. */
  hostCpu?: HostCpu;
}

/** v1 hierarchies a task may live in; freezer and the rest are never joined (each join costs, PERF-NOTES). */
const V1_CONTROLLERS = ["memory", "pids", "cpu", "cpuacct", "cpuset"] as const;

/** Throws CgroupError with the fingerprint's reason when required controllers are missing. */
export function createCgroupManager(options: CgroupManagerOptions = {}): CgroupManager {
  const info = options.info ?? detectCgroups();
  const problem = cgroupProblem(info);
  if (problem !== null || info.layout === null) {
    throw new CgroupError(problem ?? "Failed to discover cgroup mount point", { missing: info.missing });
  }
  return new Manager(info.layout, info, options);
}

class Manager implements CgroupManager {
  readonly layout: CgroupLayout;
  readonly #info: CgroupLayoutInfo;
  readonly #parent: string;
  #hostCpu: HostCpu | undefined;
  /** Parent shapes (hierarchies and v2 controllers) already made and enabled. */
  readonly #readyParents = new Set<string>();

  constructor(layout: CgroupLayout, info: CgroupLayoutInfo, options: CgroupManagerOptions) {
    this.layout = layout;
    this.#info = info;
    this.#parent = options.parent ?? "bunker";
    this.#hostCpu = options.hostCpu;
    checkName(this.#parent);
  }

  create(name: string, limits: CgroupLimits): TaskCgroup {
    const plan = this.#plan(name, limits);
    this.#run(plan);
    plan.cgroup.watchPeaks();
    return plan.cgroup;
  }

  /**
   * On cgroup v2, what must exist before the clone is made here: the task's
   * directory with its limits, for clone3(CLONE_INTO_CGROUP), which places the
   * child without a cgroup.procs write (a write waits for an RCU grace period
   * unless the hierarchy has favordynmods). With v1 hierarchies the child
   * joins by writing anyway (and Bunker turns favordynmods on there), so
   * everything, the hybrid's cgroup2 directory included, comes back for
   * createRest(), which the exec driver runs while the child builds the root.
   * `cloneInto` says which directory, if any, the clone goes into.
   */
  createForClone(name: string, limits: CgroupLimits): CgroupPlan {
    const plan = this.#plan(name, limits);
    if (this.layout !== "v2") return plan;
    this.#run(plan);
    return { ...plan, mkdirs: [], writes: [], cloneInto: plan.cgroup.unifiedDir };
  }

  /** Makes what createForClone() left: the v1 directories and their limits. */
  createRest(plan: CgroupPlan): void {
    this.#run(plan);
  }

  /** Makes a plan's `mkdirs` and writes its `writes`; on failure removes what it made. */
  #run(plan: CgroupPlan): void {
    const created: string[] = [];
    try {
      for (const dir of plan.mkdirs) {
        if (!this.#makeTaskDir(dir, plan.parentsCached && created.length === 0, plan)) {
          throw new CgroupError(
            `mkdir ${dir}: EEXIST (a cgroup of that name exists; remove or reconcile it)`,
          );
        }
        created.push(dir);
      }
      for (const [path, value] of plan.writes) writeFile(path, value);
    } catch (err) {
      rollback(created);
      throw err;
    }
  }

  /**
   * Validates the limits and makes the shared parents (once per shape; again
   * if removed behind our back), then returns the task's directories and
   * limit writes as data.
   */
  #plan(name: string, limits: CgroupLimits): CgroupPlan {
    checkName(name);
    checkLimits(limits);
    const dirs = this.#taskDirs(name, this.#controllersFor(limits));
    const shape = this.#parentShape(dirs, limits);
    const parentsCached = this.#readyParents.has(shape);
    if (!parentsCached) {
      this.#prepareParents(dirs, limits);
      this.#readyParents.add(shape);
    }
    const hostCpu = (): HostCpu => {
      this.#hostCpu ??= readHostCpu();
      return this.#hostCpu;
    };
    const writes =
      this.layout === "v2"
        ? v2LimitWrites(dirs.unified!, limits, hostCpu)
        : v1LimitWrites(dirs.v1, limits, hostCpu);
    return {
      cgroup: new CgroupTask(name, dirs),
      cloneInto: null,
      mkdirs: hierarchyDirs(dirs),
      writes,
      parentsCached,
      retry: () => {
        this.#readyParents.clear();
        this.#prepareParents(dirs, limits);
        this.#readyParents.add(shape);
      },
    };
  }

  open(name: string): TaskCgroup | null {
    checkName(name);
    const v1 = new Map<string, string>();
    for (const [ctrl, parent] of this.#v1Parents()) {
      if (existsSync(`${parent}/${name}`)) v1.set(ctrl, `${parent}/${name}`);
    }
    const unifiedParent = this.#unifiedParent();
    const unified =
      unifiedParent !== null && existsSync(`${unifiedParent}/${name}`) ? `${unifiedParent}/${name}` : null;
    if (v1.size === 0 && unified === null) return null;
    return new CgroupTask(name, { layout: this.layout, v1, unified });
  }

  list(): string[] {
    const parents = [...this.#v1Parents().values(), this.#unifiedParent()];
    const names = new Set<string>();
    for (const parent of parents) if (parent !== null) for (const n of subdirs(parent)) names.add(n);
    return [...names].sort();
  }

  /** Tries every leftover even when one fails, then reports the failures together. */
  async reconcile(keep: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    const failures: string[] = [];
    for (const name of this.list()) {
      if (keep.has(name)) continue;
      try {
        await this.open(name)?.remove();
        removed.push(name);
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (failures.length > 0) {
      throw new CgroupError(`reconcile: ${failures.join("; ")}`, { removed, failures });
    }
    return removed;
  }

  /**
   * The v1 hierarchies to join: memory, pids, cpu; cpuset only for `cpus`;
   * cpuacct only when it is free (co-mounted with cpu) or the sole source of
   * CPU time (pure v1: hybrid reads it from the cgroup2 cpu.stat instead).
   */
  #controllersFor(limits: CgroupLimits): string[] {
    if (this.layout === "v2") return [];
    const v1 = this.#info.v1;
    const controllers = ["memory", "pids", "cpu"];
    if (limits.cpus !== undefined) {
      if (!v1.has("cpuset"))
        throw new CgroupError("Failed to discover cgroup mount point: cpuset (needed for cores)");
      controllers.push("cpuset");
    }
    const cpuacct = v1.get("cpuacct");
    if (cpuacct !== undefined && (cpuacct === v1.get("cpu") || this.layout === "v1"))
      controllers.push("cpuacct");
    return controllers;
  }

  #v1Parents(): Map<string, string> {
    const parents = new Map<string, string>();
    if (this.layout === "v2") return parents;
    for (const ctrl of V1_CONTROLLERS) {
      const mount = this.#info.v1.get(ctrl);
      if (mount !== undefined) parents.set(ctrl, `${mount}/${this.#parent}`);
    }
    return parents;
  }

  #unifiedParent(): string | null {
    return this.#info.unified === null ? null : `${this.#info.unified}/${this.#parent}.slice`;
  }

  #taskDirs(name: string, controllers: string[]): TaskDirs {
    const parents = this.#v1Parents();
    const v1 = new Map<string, string>();
    for (const ctrl of controllers) v1.set(ctrl, `${parents.get(ctrl)}/${name}`);
    const unifiedParent = this.#unifiedParent();
    return { layout: this.layout, v1, unified: unifiedParent === null ? null : `${unifiedParent}/${name}` };
  }

  #parentShape(dirs: TaskDirs, limits: CgroupLimits): string {
    const v2 = this.layout === "v2" ? neededControllers(limits).join(",") : "";
    return `${[...dirs.v1.keys()].join(",")}|${v2}`;
  }

  /** mkdir of a task's directory; with `retry`, a missing parent is made again and it is tried once more. */
  #makeTaskDir(dir: string, retry: boolean, plan: CgroupPlan): boolean {
    try {
      return makeDir(dir);
    } catch (err) {
      if (!retry) throw err;
      plan.retry();
      return makeDir(dir);
    }
  }

  #prepareParents(dirs: TaskDirs, limits: CgroupLimits): void {
    const parents = this.#v1Parents();
    for (const ctrl of dirs.v1.keys()) prepareV1Parent(ctrl, parents.get(ctrl)!);
    const unifiedParent = this.#unifiedParent();
    if (unifiedParent === null) return;
    // Hybrid: no controllers live on cgroup2, the directory is only for membership and kill.
    const controllers = this.layout === "v2" ? neededControllers(limits) : [];
    prepareV2Parent(this.#info.unified!, unifiedParent, controllers);
  }
}

/** Undoes a half-made create: the directories are new and empty, so plain rmdir suffices. */
function rollback(created: string[]): void {
  for (const dir of created.reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // Best effort: the original error is the one worth reporting; reconcile sweeps the rest.
    }
  }
}
