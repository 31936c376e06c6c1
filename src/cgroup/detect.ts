/**
 * Which cgroup layout this host has, from /proc/self/mountinfo (where each
 * hierarchy is mounted and which controllers it carries) and /proc/cgroups
 * (which controllers the kernel has enabled at all).
 */
import { readFileOrNull } from "./fs.ts";
import type { CgroupLayout } from "./types.ts";

/** Controllers Bunker cannot run a task without; cpuset is optional (only for `cores`). */
export const REQUIRED_CONTROLLERS = ["memory", "cpu", "pids"] as const;

export interface CgroupMount {
  fsType: "cgroup" | "cgroup2";
  mountPoint: string;
  /** The mounted subtree: "/" on a host, a container's own path when a runtime bind-mounts part of it. */
  root: string;
  superOptions: string[];
}

export interface CgroupLayoutInfo {
  /** null when no usable hierarchy carries the required controllers. */
  layout: CgroupLayout | null;
  /** v1 controller -> mount point; co-mounted controllers (cpu,cpuacct) share one. */
  v1: ReadonlyMap<string, string>;
  /** The cgroup2 mount point (pure v2 root, or the hybrid `unified` mount), if any. */
  unified: string | null;
  /** Controllers available at the cgroup2 mount's root (its cgroup.controllers). */
  unifiedControllers: readonly string[];
  /** Required controllers found in neither the chosen hierarchy nor anywhere usable. */
  missing: readonly string[];
  /** Required controllers the kernel lists in /proc/cgroups as disabled (cgroup_disable= on the command line). */
  disabled: readonly string[];
}

/** Used when /proc/cgroups is unavailable (it is deprecated on newer kernels). */
const KNOWN_V1_CONTROLLERS = [
  "cpuset",
  "cpu",
  "cpuacct",
  "blkio",
  "io",
  "memory",
  "devices",
  "freezer",
  "net_cls",
  "perf_event",
  "net_prio",
  "hugetlb",
  "pids",
  "rdma",
  "misc",
];

/** mountinfo escapes space, tab, newline and backslash as octal (\040). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** The cgroup and cgroup2 mounts in a mountinfo text (proc(5) format). */
export function parseMountinfo(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split("\n")) {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
    const [left, right] = line.split(" - ");
    if (left === undefined || right === undefined) continue;
    const fields = left.split(" ");
    const [fsType, , superOpts] = right.split(" ");
    if (fsType !== "cgroup" && fsType !== "cgroup2") continue;
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    mounts.push({
      fsType,
      mountPoint: unescapeMountField(mountPoint),
      root: unescapeMountField(root),
      superOptions: (superOpts ?? "").split(","),
    });
  }
  return mounts;
}

interface ProcCgroup {
  name: string;
  hierarchy: number;
  enabled: boolean;
}

/** /proc/cgroups: "subsys_name hierarchy num_cgroups enabled". */
export function parseProcCgroups(text: string): ProcCgroup[] {
  const out: ProcCgroup[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const [name, hierarchy, , enabled] = line.trim().split(/\s+/);
    if (name === undefined || name === "" || enabled === undefined) continue;
    out.push({ name, hierarchy: Number(hierarchy), enabled: enabled === "1" });
  }
  return out;
}

/** Bind mounts of one hierarchy repeat in mountinfo; the one showing the whole tree wins. */
function preferWholeTree(a: CgroupMount, b: CgroupMount): CgroupMount {
  return a.root !== "/" && b.root === "/" ? b : a;
}

function v1Controllers(mounts: CgroupMount[], known: ReadonlySet<string>): Map<string, string> {
  const chosen = new Map<string, CgroupMount>();
  for (const mount of mounts) {
    if (mount.fsType !== "cgroup") continue;
    for (const opt of mount.superOptions) {
      if (!known.has(opt)) continue; // "rw", "name=systemd", "clone_children", ...
      const current = chosen.get(opt);
      chosen.set(opt, current === undefined ? mount : preferWholeTree(current, mount));
    }
  }
  return new Map([...chosen].map(([ctrl, mount]) => [ctrl, mount.mountPoint]));
}

/** The systemd location wins, then any mount of the whole tree, then any. */
function pickUnified(mounts: CgroupMount[]): string | null {
  const v2 = mounts.filter((m) => m.fsType === "cgroup2");
  const best = v2.find((m) => m.mountPoint === "/sys/fs/cgroup") ?? v2.find((m) => m.root === "/") ?? v2[0];
  return best?.mountPoint ?? null;
}

/**
 * Decides the layout. A controller lives in exactly one hierarchy: if any
 * required one is bound to v1 we use v1 for limits (plus the cgroup2 mount,
 * when present, for kill and CLONE_INTO_CGROUP: "hybrid"); otherwise v2.
 * Required controllers split across v1 and v2 are reported missing.
 */
export function classifyCgroups(
  mounts: CgroupMount[],
  readControllers: (dir: string) => string[],
  procCgroups: string | null,
): CgroupLayoutInfo {
  const proc = procCgroups === null ? [] : parseProcCgroups(procCgroups);
  const known = new Set([...KNOWN_V1_CONTROLLERS, ...proc.map((p) => p.name)]);
  const v1 = v1Controllers(mounts, known);
  const unified = pickUnified(mounts);
  const unifiedControllers = unified === null ? [] : readControllers(unified);
  const disabled = REQUIRED_CONTROLLERS.filter((c) => proc.some((p) => p.name === c && !p.enabled));

  let layout: CgroupLayout | null = null;
  let have: (c: string) => boolean = () => false;
  if (REQUIRED_CONTROLLERS.some((c) => v1.has(c))) {
    layout = unified === null ? "v1" : "hybrid";
    have = (c) => v1.has(c);
  } else if (unified !== null) {
    layout = "v2";
    have = (c) => unifiedControllers.includes(c);
  }
  const missing = REQUIRED_CONTROLLERS.filter((c) => !have(c));
  return { layout, v1, unified, unifiedControllers, missing, disabled };
}

function readControllersFile(dir: string): string[] {
  return (readFileOrNull(`${dir}/cgroup.controllers`) ?? "").split(/\s+/).filter((c) => c !== "");
}

/** Detects this host's layout. Pure reads; nothing is created. */
export function detectCgroups(): CgroupLayoutInfo {
  const mountinfo = readFileOrNull("/proc/self/mountinfo") ?? "";
  return classifyCgroups(parseMountinfo(mountinfo), readControllersFile, readFileOrNull("/proc/cgroups"));
}

/**
 * The fingerprint's reason when the driver cannot run (Nomad's wording), or
 * null when every required controller is there.
 */
export function cgroupProblem(info: CgroupLayoutInfo): string | null {
  if (info.layout !== null && info.missing.length === 0) return null;
  const missing = info.missing.length > 0 ? info.missing : REQUIRED_CONTROLLERS;
  const disabled = info.disabled.length > 0 ? ` (disabled in the kernel: ${info.disabled.join(", ")})` : "";
  return `Failed to discover cgroup mount point: ${missing.join(", ")}${disabled}`;
}
