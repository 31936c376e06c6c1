/** What a benchmark result was measured on, so two result files can be compared honestly. */
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

export interface MachineInfo {
  hostname: string;
  kernel: string;
  cpuModel: string;
  cpuCount: number;
  memoryBytes: number;
  bun: string;
  /** "v2", "hybrid" or "v1", from /proc/self/mountinfo. */
  cgroupLayout: string;
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "unknown";
  }
}

function cgroupLayout(): string {
  const types = read("/proc/self/mountinfo")
    .split("\n")
    .map((line) => line.split(" - ")[1]?.split(" ")[0]);
  const v1 = types.includes("cgroup");
  const v2 = types.includes("cgroup2");
  if (v1 && v2) return "hybrid";
  return v2 ? "v2" : v1 ? "v1" : "none";
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    hostname: read("/proc/sys/kernel/hostname"),
    kernel: read("/proc/sys/kernel/osrelease"),
    cpuModel: list[0]?.model ?? "unknown",
    cpuCount: list.length,
    memoryBytes: totalmem(),
    bun: Bun.version,
    cgroupLayout: cgroupLayout(),
  };
}

/** HEAD's commit, with "-dirty" when the work tree has changes, or "unknown" outside git. */
export function gitCommit(cwd: string): string {
  const head = Bun.spawnSync(["git", "rev-parse", "HEAD"], { cwd, stderr: "ignore" });
  if (head.exitCode !== 0) return "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], {
    cwd,
    stderr: "ignore",
  });
  const commit = head.stdout.toString().trim();
  return dirty.stdout.toString().trim() === "" ? commit : `${commit}-dirty`;
}
