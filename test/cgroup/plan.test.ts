/**
 * Which part of a task's cgroup exists before the clone. With v1 hierarchies
 * (v1, hybrid) nothing: the server makes it all while the child mounts, and
 * the child joins by writing. On v2 all of it, for CLONE_INTO_CGROUP. Runs on
 * this host's layout, as root.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { cleanup, info, isRoot, manager, testParent, uniqueName } from "./helpers.ts";

const parent = testParent("plan");

describe.skipIf(!isRoot)(`createForClone on this host (${info.layout})`, () => {
  const mgr = manager(parent);
  afterAll(() => cleanup(mgr, parent, []));
  const limits = { cpuShares: 100, memoryBytes: 64 * 1024 * 1024, pids: 32 };

  test("what exists before the clone, and what createRest makes", async () => {
    const plan = mgr.createForClone(uniqueName("plan"), limits);
    const dirs = plan.cgroup.procsPaths.map((p) => p.slice(0, -"/cgroup.procs".length));
    if (mgr.layout === "v2") {
      expect(plan.cloneInto).toBe(plan.cgroup.unifiedDir);
      expect(plan.mkdirs).toEqual([]);
      for (const dir of dirs) expect(existsSync(dir)).toBe(true);
    } else {
      expect(plan.cloneInto).toBeNull();
      expect(plan.mkdirs).toEqual(dirs);
      for (const dir of dirs) expect(existsSync(dir)).toBe(false);
      mgr.createRest(plan);
      for (const dir of dirs) expect(existsSync(dir)).toBe(true);
    }
    await plan.cgroup.remove();
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });
});
