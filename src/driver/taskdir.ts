/**
 * The per-task directory on the host, in Nomad's layout: it becomes the
 * task's root, holding `local/`, `alloc/{logs,tmp,data}` and `tmp/` (1777);
 * `secrets/`, `dev/`, `proc/`… are only mount points inside the task's
 * private mount namespace.
 */
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
} from "node:fs";
import { BunkerError } from "../errors.ts";

export interface TaskDir {
  /** Host path; "/" inside the task. */
  root: string;
}

/** Where a task's directory is (made by createTaskDir). */
export function taskDirAt(tasksDir: string, id: string): TaskDir {
  return { root: `${tasksDir}/${id}` };
}

/** Creates <tasksDir>/<id> with the Nomad layout, owned so that `uid` can write local/ and tmp/. */
export function createTaskDir(tasksDir: string, id: string, uid: number, gid: number): TaskDir {
  const { root } = taskDirAt(tasksDir, id);
  mkdirSync(root, { mode: 0o755 });
  for (const sub of ["local", "alloc", "alloc/logs", "alloc/tmp", "alloc/data", "tmp"]) {
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

/**
 * Removes a task directory without ever crossing into another filesystem
 * (`rm --one-file-system`): task mounts live in the task's own namespace and
 * die with it, but if one were ever visible here, a recursive delete would
 * walk into a host directory bound below and empty it. A directory on another
 * device than the task dir is refused loudly instead. One lstat per directory
 * is far cheaper than reading the mount table on every teardown.
 */
export function removeTaskDir(dir: TaskDir): void {
  let root: ReturnType<typeof lstatSync>;
  try {
    root = lstatSync(dir.root);
  } catch {
    return; // already gone
  }
  removeTree(dir.root, root.dev);
}

function removeTree(path: string, dev: number): void {
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = `${path}/${entry.name}`;
    if (!entry.isDirectory()) {
      rmSync(child, { force: true });
      continue;
    }
    if (lstatSync(child).dev !== dev) {
      throw new BunkerError(
        "taskdir_mounted",
        `refusing to remove ${child}: another filesystem is mounted there`,
      );
    }
    removeTree(child, dev);
  }
  rmdirSync(path);
}
