/**
 * The per-task directory on the host, in Nomad's layout: it becomes the
 * task's root, holding `local/`, `alloc/{logs,tmp,data}` and `tmp/` (1777);
 * `secrets/`, `dev/`, `proc/`… are only mount points inside the task's
 * private mount namespace.
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { BunkerError } from "../errors.ts";

export interface TaskDir {
  /** Host path; "/" inside the task. */
  root: string;
}

/** Creates <tasksDir>/<id> with the Nomad layout, owned so that `uid` can write local/ and tmp/. */
export function createTaskDir(tasksDir: string, id: string, uid: number, gid: number): TaskDir {
  const root = `${tasksDir}/${id}`;
  mkdirSync(root, { mode: 0o755 });
  for (const sub of ["local", "alloc", "alloc/logs", "alloc/tmp", "alloc/data", "tmp", "private"]) {
    mkdirSync(`${root}/${sub}`, { mode: 0o755 });
  }
  for (const owned of ["local", "alloc/data", "alloc/tmp", "alloc/logs"])
    chownSync(`${root}/${owned}`, uid, gid);
  // mkdir's mode is filtered by the umask; the sticky world-writable tmp needs an explicit chmod.
  chmodSync(`${root}/tmp`, 0o1777);
  return { root };
}

/** Where task directories live unless configured otherwise (BUNKER_RUN_DIR). */
export const DEFAULT_RUN_DIR = "/run/bunker";

/**
 * Task directories live on one tmpfs per host, shared by every Bunker: on
 * this class of host a mkdir on the root ext4 costs ~1 ms against ~10 µs on
 * tmpfs, and a task's files are scratch that vanish with it anyway. Pages a
 * task writes there are charged to the task's memory cgroup, so its memory
 * limit bounds them too. Mounted once, like Nomad's alloc dir, and left
 * mounted: it is empty when no task runs.
 */
export function ensureRunDir(runDir: string, sizeOption = "50%"): void {
  mkdirSync(runDir, { recursive: true, mode: 0o711 });
  if (isMountPoint(runDir) || isTmpfs(runDir)) return;
  const result = Bun.spawnSync([
    "mount",
    "-t",
    "tmpfs",
    "-o",
    `mode=0711,size=${sizeOption}`,
    "bunker-run",
    runDir,
  ]);
  if (result.exitCode !== 0) {
    throw new BunkerError("taskdir_mount", `mount tmpfs on ${runDir}: ${result.stderr.toString().trim()}`);
  }
}

function isTmpfs(dir: string): boolean {
  // statfs f_type of tmpfs is TMPFS_MAGIC; findmnt answers for the mount holding dir.
  const r = Bun.spawnSync(["findmnt", "-n", "-o", "FSTYPE", "--target", dir]);
  return r.stdout.toString().trim() === "tmpfs";
}

function mountPoints(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => unescapeMountPath(line.split(" ")[4] ?? ""));
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

function isMountPoint(dir: string): boolean {
  return mountPoints().includes(dir.replace(/\/+$/, ""));
}

/** Mount points below `dir` in this (the server's) mount namespace. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return mountPoints().filter((mp) => mp === dir || mp.startsWith(prefix));
}

/**
 * Removes a task directory. Task mounts live in the task's own namespace and
 * die with it; if one were ever visible here, deleting recursively would walk
 * into a host directory bound below, so that is refused loudly instead.
 */
export function removeTaskDir(dir: TaskDir): void {
  const mounts = mountsUnder(dir.root);
  if (mounts.length > 0) {
    throw new BunkerError(
      "taskdir_mounted",
      `refusing to remove ${dir.root}: still mounted at ${mounts.join(", ")}`,
    );
  }
  rmSync(dir.root, { recursive: true, force: true });
}
