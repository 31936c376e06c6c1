/**
 * The cgroup layer against the real kernel, as root, on whatever layout this
 * host has (here: v1 controllers + an empty cgroup2 mount, "hybrid").
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmdirSync, statfsSync } from "node:fs";
import type { Subprocess } from "bun";
import {
  CgroupError,
  type CgroupLimits,
  cgroupManager,
  createCgroupManager,
  joinPaths,
} from "../../src/cgroup/index.ts";
import {
  cleanup,
  firstLine,
  info,
  isRoot,
  manager,
  parentDirs,
  spawnIn,
  testParent,
  uniqueName,
  waitFor,
} from "./helpers.ts";

const CGROUP2_SUPER_MAGIC = 0x63677270;
const MB = 1024 * 1024;
const parent = testParent("manager");
const children: Subprocess[] = [];
const read = (path: string) => readFileSync(path, "utf8").trim();

if (!isRoot) console.log("cgroup manager tests skipped: they need root (uid 0) to write cgroupfs");

describe.skipIf(!isRoot)(`cgroup manager on this host (${info.layout})`, () => {
  const mgr = manager(parent);
  const isV1 = mgr.layout !== "v2";
  /** v1 controller -> this task's directory (on v1 and hybrid). */
  const v1Dir = (ctrl: string, name: string) => `${info.v1.get(ctrl)}/${parent}/${name}`;

  afterAll(() => cleanup(mgr, parent, children));

  test("layout matches detection", () => {
    expect(mgr.layout).toBe(info.layout!);
  });

  test.skipIf(!isV1)("v1 limits are written to their files", () => {
    const name = uniqueName("limits");
    const limits: CgroupLimits = {
      memoryBytes: 64 * MB,
      memoryReservationBytes: 32 * MB,
      cpuShares: 500,
      cpuQuotaMhz: 1000,
      cpus: "0",
      pids: 50,
    };
    const cg = createWith(name, limits);
    const mem = v1Dir("memory", name);
    expect(read(`${mem}/memory.limit_in_bytes`)).toBe(String(64 * MB));
    expect(read(`${mem}/memory.soft_limit_in_bytes`)).toBe(String(32 * MB));
    if (existsSync(`${mem}/memory.memsw.limit_in_bytes`)) {
      expect(read(`${mem}/memory.memsw.limit_in_bytes`)).toBe(String(64 * MB));
    }
    expect(read(`${v1Dir("cpu", name)}/cpu.shares`)).toBe("500");
    expect(read(`${v1Dir("cpu", name)}/cpu.cfs_period_us`)).toBe("100000");
    expect(Number(read(`${v1Dir("cpu", name)}/cpu.cfs_quota_us`))).toBeGreaterThan(0);
    expect(read(`${v1Dir("cpuset", name)}/cpuset.cpus`)).toBe("0");
    expect(read(`${v1Dir("cpuset", name)}/cpuset.mems`)).not.toBe("");
    expect(read(`${v1Dir("pids", name)}/pids.max`)).toBe("50");
    expect(cg.procsPaths).toContain(`${v1Dir("cpuset", name)}/cgroup.procs`);
  });

  test.skipIf(!isV1)("v1: joins only memory, pids, cpu (no cpuset without cpus), cgroup2 last", () => {
    const name = uniqueName("few");
    const cg = createWith(name, { cpuShares: 100 });
    const dirs = new Set(["memory", "pids", "cpu"].map((c) => `${v1Dir(c, name)}/cgroup.procs`));
    if (mgr.layout === "v1" && info.v1.has("cpuacct")) dirs.add(`${v1Dir("cpuacct", name)}/cgroup.procs`);
    if (info.unified !== null) dirs.add(`${info.unified}/${parent}.slice/${name}/cgroup.procs`);
    expect(new Set(cg.procsPaths)).toEqual(dirs);
    if (info.unified !== null) expect(cg.procsPaths.at(-1)).toBe(`${cg.unifiedDir}/cgroup.procs`);
    expect(read(`${v1Dir("cpu", name)}/cpu.shares`)).toBe("100");
    for (const ctrl of ["cpuset", "freezer", "devices", "blkio"]) {
      const mount = info.v1.get(ctrl);
      if (mount !== undefined && mount !== info.v1.get("cpu")) {
        expect(existsSync(`${mount}/${parent}/${name}`)).toBe(false);
      }
    }
    expect(joinPaths(cg, true)).toEqual(
      cg.procsPaths.filter((p) => cg.unifiedDir === null || p !== `${cg.unifiedDir}/cgroup.procs`),
    );
    expect(joinPaths(cg, false)).toEqual([...cg.procsPaths]);
  });

  test("the cgroup2 directory is ready for CLONE_INTO_CGROUP and cgroup.kill", () => {
    const cg = createWith(uniqueName("unified"), { cpuShares: 100 });
    if (info.unified === null) {
      console.log("no cgroup2 mount on this host: unifiedDir is null, kill uses SIGKILL rounds");
      expect(cg.unifiedDir).toBeNull();
      return;
    }
    expect(cg.unifiedDir).not.toBeNull();
    expect(statfsSync(cg.unifiedDir!).type).toBe(CGROUP2_SUPER_MAGIC);
    expect(existsSync(`${cg.unifiedDir}/cgroup.kill`)).toBe(true);
    expect(read(`${cg.unifiedDir}/cgroup.type`)).toBe("domain");
  });

  test("a joined child is listed by pids() and /proc/<pid>/cgroup, and stats see it", async () => {
    const cg = createWith(uniqueName("stats"), { cpuShares: 100, memoryBytes: 256 * MB, pids: 20 });
    // The shell keeps ~8 MB in a variable so memory usage is clearly non-zero.
    const child = track(
      spawnIn(cg.procsPaths, `x=$(head -c 8000000 /dev/zero | tr '\\0' a); echo ready; sleep 30`),
    );
    expect(await firstLine(child)).toBe("ready");
    expect(await waitFor(() => cg.pids().length === 2)).toBe(true);
    expect(cg.pids()).toContain(child.pid);
    const membership = read(`/proc/${child.pid}/cgroup`);
    expect(membership.split("\n").filter((l) => l.endsWith(`/${parent}/${cg.name}`)).length).toBeGreaterThan(
      0,
    );
    if (info.unified !== null) {
      expect(membership).toContain(`0::/${parent}.slice/${cg.name}`);
      expect(read(`${cg.unifiedDir}/cgroup.events`)).toContain("populated 1");
    }
    const stats = cg.stats();
    expect(stats.memory.usageBytes ?? 0).toBeGreaterThan(1 * MB);
    expect(stats.memory.peakBytes ?? 0).toBeGreaterThanOrEqual(stats.memory.usageBytes ?? 0);
    expect(stats.memory.rssBytes).toBeDefined();
    expect(stats.pids.current).toBe(2);
    expect(stats.cpu.usageUsec ?? 0).toBeGreaterThan(0);
    expect(stats.cpu.userUsec).toBeDefined();
    expect(stats.cpu.systemUsec).toBeDefined();
    expect(stats.cpu.throttledPeriods).toBeDefined();
    expect(cg.oomKilled()).toBe(false);
    await cg.remove();
    expect(await child.exited).not.toBe(0);
    expect(child.signalCode).toBe("SIGKILL");
  });

  test("kill() gets a child that keeps forking, remove() leaves no directory anywhere", async () => {
    const cg = createWith(uniqueName("fork"), { cpuShares: 100 });
    // A parent that forks sleepers forever; the grandchildren must die too.
    const child = track(spawnIn(cg.procsPaths, "echo ready; while :; do sleep 60 & done"));
    expect(await firstLine(child)).toBe("ready");
    expect(await waitFor(() => cg.pids().length >= 5)).toBe(true);
    await cg.kill();
    expect(cg.pids()).toEqual([]);
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
    if (info.unified !== null) expect(read(`${cg.unifiedDir}/cgroup.events`)).toContain("populated 0");
    await cg.remove();
    for (const dir of parentDirs(parent)) expect(existsSync(`${dir}/${cg.name}`)).toBe(false);
    await cg.remove(); // idempotent
    expect(mgr.open(cg.name)).toBeNull();
  });

  test("kill() also gets forking processes that joined only the v1 hierarchies (the pure-v1 path)", async () => {
    const cg = createWith(uniqueName("v1only"), { cpuShares: 100 });
    const v1Only = joinPaths(cg, true);
    const child = track(spawnIn(v1Only, "echo ready; while :; do sleep 60 & done"));
    expect(await firstLine(child)).toBe("ready");
    expect(await waitFor(() => cg.pids().length >= 5)).toBe(true);
    if (cg.unifiedDir !== null) expect(read(`${cg.unifiedDir}/cgroup.procs`)).toBe("");
    await cg.kill();
    expect(cg.pids()).toEqual([]);
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
    await cg.remove();
  });

  test("remove() kills what is still running", async () => {
    const cg = createWith(uniqueName("rm"), { cpuShares: 100 });
    const child = track(spawnIn(cg.procsPaths, "sleep 60 & echo ready; exec sleep 60"));
    expect(await firstLine(child)).toBe("ready");
    expect(await waitFor(() => cg.pids().length === 2)).toBe(true);
    await cg.remove();
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
    for (const dir of parentDirs(parent)) expect(existsSync(`${dir}/${cg.name}`)).toBe(false);
  });

  test("remove() also takes sub-cgroups a task made inside its own, and what runs in them", async () => {
    const cg = createWith(uniqueName("nested"), { cpuShares: 100 });
    const dirs = cg.procsPaths.map((p) => p.slice(0, -"/cgroup.procs".length));
    for (const dir of dirs) mkdirSync(`${dir}/inner`);
    const child = track(
      spawnIn(
        dirs.map((d) => `${d}/inner/cgroup.procs`),
        "echo ready; exec sleep 60",
      ),
    );
    expect(await firstLine(child)).toBe("ready");
    await cg.remove();
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });

  test("oomKilled() after a memory hog hits a 32 MB limit", async () => {
    const cg = createWith(uniqueName("oom"), { cpuShares: 100, memoryBytes: 32 * MB });
    const child = track(spawnIn(cg.procsPaths, "exec tail /dev/zero"));
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
    expect(cg.oomKilled()).toBe(true);
    expect(cg.stats().memory.peakBytes ?? 0).toBeGreaterThan(16 * MB);
    await cg.remove();
  });

  test("pids limit stops a fork loop", async () => {
    const cg = createWith(uniqueName("pids"), { cpuShares: 100, pids: 4 });
    const child = track(
      spawnIn(
        cg.procsPaths,
        "(for i in 1 2 3 4 5 6 7 8; do sleep 60 & done) 2>/dev/null; echo ready; exec sleep 60",
      ),
    );
    expect(await firstLine(child)).toBe("ready");
    expect(cg.stats().pids.current ?? 99).toBeLessThanOrEqual(4);
    const pidsDir = mgr.layout === "v2" ? cg.unifiedDir! : v1Dir("pids", cg.name);
    expect(read(`${pidsDir}/pids.events`)).toMatch(/^max [1-9]/m);
    await cg.remove();
  });

  test("a bad limit names the file and errno and leaves nothing behind", () => {
    const name = uniqueName("bad");
    let error: unknown;
    try {
      mgr.create(name, { cpuShares: 100, cpus: "99" });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CgroupError);
    expect((error as CgroupError).message).toMatch(/^write \/sys\/fs\/cgroup\/\S+\/cpuset\.cpus: E[A-Z]+$/);
    expect((error as CgroupError).message).toContain(`/${name}/`);
    for (const dir of parentDirs(parent)) expect(existsSync(`${dir}/${name}`)).toBe(false);
  });

  test("creating an existing name fails with EEXIST; open() finds it", async () => {
    const cg = createWith(uniqueName("dup"), { cpuShares: 100 });
    expect(() => mgr.create(cg.name, { cpuShares: 100 })).toThrow(/EEXIST/);
    const opened = mgr.open(cg.name);
    expect(opened?.procsPaths).toEqual(cg.procsPaths);
    expect(opened?.unifiedDir).toBe(cg.unifiedDir);
    expect(mgr.open(uniqueName("absent"))).toBeNull();
    await cg.remove();
  });

  test("parents are made once, and made again when removed behind the manager's back", async () => {
    const own = testParent("reparent");
    const m = manager(own);
    try {
      const first = m.create(uniqueName("re"), { cpuShares: 100 });
      await first.remove();
      // An operator (or another tool) removes the now empty parents.
      for (const dir of parentDirs(own)) if (existsSync(dir)) rmdirSync(dir);
      const second = m.create(uniqueName("re"), { cpuShares: 100 });
      for (const path of second.procsPaths) expect(existsSync(path)).toBe(true);
      await second.remove();
    } finally {
      await cleanup(m, own, []);
    }
  });

  test("the default manager is cached and uses the `bunker` parent", async () => {
    const a = cgroupManager();
    expect(cgroupManager()).toBe(a);
    const cg = a.create(uniqueName("default"), { cpuShares: 100 });
    try {
      expect(cg.procsPaths.every((p) => p.includes("/bunker/") || p.includes("/bunker.slice/"))).toBe(true);
    } finally {
      await cg.remove();
    }
  });

  const noV2 = `this host's cgroup2 mount has no memory/cpu/pids controllers (${info.unified ?? "no cgroup2 mount"}: ${info.unifiedControllers.join(" ") || "none"})`;
  if (mgr.layout !== "v2") console.log(`v2 limit read-back skipped: ${noV2}`);

  test.skipIf(mgr.layout !== "v2")("v2 limits are written to their files", () => {
    const cg = createWith(uniqueName("v2limits"), {
      memoryBytes: 64 * MB,
      memoryReservationBytes: 32 * MB,
      cpuShares: 1024,
      cpuQuotaMhz: 1000,
      cpus: "0",
      pids: 50,
    });
    const dir = cg.unifiedDir!;
    expect(read(`${dir}/memory.max`)).toBe(String(64 * MB));
    expect(read(`${dir}/memory.low`)).toBe(String(32 * MB));
    if (existsSync(`${dir}/memory.swap.max`)) expect(read(`${dir}/memory.swap.max`)).toBe("0");
    expect(read(`${dir}/cpu.weight`)).toBe("39");
    expect(read(`${dir}/cpu.max`)).toMatch(/^\d+ 100000$/);
    expect(read(`${dir}/cpuset.cpus`)).toBe("0");
    expect(read(`${dir}/pids.max`)).toBe("50");
    expect(cg.procsPaths).toEqual([`${dir}/cgroup.procs`]);
    expect(read(`${dir}/../cgroup.procs`)).toBe(""); // no internal processes in the parent
  });

  test.skipIf(info.unified === null || info.unifiedControllers.includes("memory"))(
    "v2 on a cgroup2 mount without controllers fails naming subtree_control",
    () => {
      const v2Parent = testParent("forged-v2");
      const forged = createCgroupManager({
        parent: v2Parent,
        info: { ...info, layout: "v2", v1: new Map(), missing: [] },
      });
      try {
        expect(() => forged.create(uniqueName("v2"), { cpuShares: 100 })).toThrow(
          /^write \S+\/cgroup\.subtree_control: E[A-Z]+ \(enabling memory, cpu, pids;/,
        );
        expect(forged.list()).toEqual([]);
      } finally {
        rmdirSync(`${info.unified}/${v2Parent}.slice`);
      }
    },
  );

  function createWith(name: string, limits: CgroupLimits) {
    return mgr.create(name, limits);
  }
});

describe.skipIf(!isRoot)("reconcile", () => {
  const recParent = testParent("reconcile");
  const mgr = manager(recParent);
  afterAll(() => cleanup(mgr, recParent, children));

  test("removes the leftovers of dead tasks and kills what runs in them", async () => {
    const keep = mgr.create("keep", { cpuShares: 100 });
    const busy = mgr.create("busy", { cpuShares: 100, cpus: "0" });
    mgr.create("idle", { cpuShares: 100, memoryBytes: 64 * MB });
    const child = track(spawnIn(busy.procsPaths, "echo ready; exec sleep 60"));
    expect(await firstLine(child)).toBe("ready");
    expect(mgr.list()).toEqual(["busy", "idle", "keep"]);
    expect(await mgr.reconcile(new Set(["keep"]))).toEqual(["busy", "idle"]);
    expect(mgr.list()).toEqual(["keep"]);
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
    for (const dir of parentDirs(recParent)) {
      expect(existsSync(`${dir}/busy`)).toBe(false);
      expect(existsSync(`${dir}/idle`)).toBe(false);
    }
    expect(await mgr.reconcile(new Set(["keep"]))).toEqual([]);
    await keep.remove();
  });
});

function track<T extends Subprocess>(child: T): T {
  children.push(child);
  return child;
}
