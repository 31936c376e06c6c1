/**
 * The cgroup layer: one interface (types.ts) over cgroup v1, v2 and the
 * hybrid of both. The driver asks `cgroupManager()` and never looks at files.
 */
import { createCgroupManager } from "./manager.ts";
import type { CgroupManager } from "./types.ts";

export { type CgroupLayoutInfo, cgroupProblem, detectCgroups, REQUIRED_CONTROLLERS } from "./detect.ts";
export { CgroupError } from "./fs.ts";
export { clampShares, type HostCpu, quotaUsec, sharesToWeight } from "./limits.ts";
export { type CgroupManagerOptions, createCgroupManager } from "./manager.ts";
export { joinPaths } from "./task.ts";
export type { CgroupLayout, CgroupLimits, CgroupManager, CgroupStats, TaskCgroup } from "./types.ts";

let cached: CgroupManager | undefined;

/**
 * The host's manager, detected once. Throws CgroupError ("Failed to discover
 * cgroup mount point: ...") when required controllers are missing; a failed
 * detection is not cached, so a later call sees a fixed host.
 */
export function cgroupManager(): CgroupManager {
  cached ??= createCgroupManager();
  return cached;
}
