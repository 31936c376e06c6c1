/**
 * favordynmods (kernel 6.0+): on cgroup v1 every write to a cgroup.procs file
 * takes the global threadgroup rwsem for writing, which first waits for an RCU
 * grace period — measured here at 3–17 ms per task start (PERF-NOTES: "cgroup
 * v1 attach stalls"). With favordynmods the writer skips that wait, at a small
 * cost on fork and exit. The switch is global, so Bunker turns it on once,
 * only where tasks attach by writing (v1 and hybrid; on v2 CLONE_INTO_CGROUP
 * never takes the write side), and says so. BUNKER_CGROUP_FAVORDYNMODS=0 opts out.
 */
import { readFileSync } from "node:fs";
import type { CgroupLayoutInfo } from "./detect.ts";

export type TuneResult = "enabled" | "already" | "unsupported" | "not-needed" | "failed";

function supported(): boolean {
  try {
    return readFileSync("/sys/kernel/cgroup/features", "utf8").split("\n").includes("favordynmods");
  } catch {
    return false;
  }
}

function hasOption(mountPoint: string): boolean {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const fields = line.split(" ");
    if (fields[4] === mountPoint) return line.includes("favordynmods");
  }
  return false;
}

export function favorDynmods(info: CgroupLayoutInfo): TuneResult {
  if (info.layout === "v2" || info.layout === null) return "not-needed";
  // The option lives on a cgroup2 mount; the rwsem it relaxes is shared by every hierarchy.
  const mount = info.unified;
  if (mount === null || !supported()) return "unsupported";
  if (hasOption(mount)) return "already";
  const r = Bun.spawnSync(["mount", "-o", "remount,favordynmods", mount], {
    stdout: "ignore",
    stderr: "ignore",
  });
  return r.exitCode === 0 ? "enabled" : "failed";
}
