/**
 * chroot_mode "link" and "copy": Nomad's way of giving a task its chroot_env, for users who need
 * real files in the task dir instead of Bunker's read-only bind mounts. The task dir is filled
 * before the clone; the root plan then binds nothing from the host.
 *
 * A hard link is the host's file under a second name: same inode, same data, same mode and
 * owner. Whatever the task can do to its "copy" it does to the host's file. So "link" links a
 * file only when the task provably cannot write it or change its metadata: the task user is not
 * root, holds none of the capabilities that bypass file permissions (cap_add), does not own the
 * file (an owner can chmod it writable), and no group or other write bit is set (conservative: it
 * ignores whether the task is in that group, and an ACL granting write shows in the group bits).
 * Everything else is copied. Nomad links every file it can, which is how a root task could edit
 * the host's /etc/passwd through its chroot (Nomad issues #1507, #3367).
 */
import {
  chmodSync,
  constants,
  copyFileSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  type Stats,
  symlinkSync,
} from "node:fs";
import { BunkerError } from "../errors.ts";
import { type FetchOptions, fetchArtifacts } from "./artifacts.ts";
import type { BunkerPluginConfig } from "./config.ts";
import type { RootEntry } from "./root.ts";
import type { TaskSpec } from "./types.ts";
import { lookupMounts, type PreparedVolume, prepareVolumes } from "./volumes.ts";

export type PopulateMode = "link" | "copy";

/** What decides whether the task could write a linked file. */
export interface TaskWriter {
  uid: number;
  /** cap_add as in TaskSpec ("DAC_OVERRIDE", ..., or "all"). */
  capAdd: readonly string[];
}

/** Capabilities that let a non-root process write, chmod or chown a file it may not otherwise. */
const BYPASS_CAPS = new Set(["ALL", "DAC_OVERRIDE", "FOWNER", "CHOWN", "LINUX_IMMUTABLE"]);

export interface PopulateStats {
  linked: number;
  copied: number;
  symlinks: number;
  dirs: number;
}

export class ChrootError extends BunkerError {
  constructor(message: string, detail?: Record<string, unknown>) {
    super("chroot_populate", message, detail);
    this.name = "ChrootError";
  }
}

/** True when hard-linking `st` into a task run by `task` cannot let the task change the host file. */
export function mayHardLink(st: Stats, task: TaskWriter): boolean {
  if (task.uid === 0) return false;
  if (task.capAdd.some((c) => BYPASS_CAPS.has(c.toUpperCase().replace(/^CAP_/, "")))) return false;
  if (st.uid === task.uid) return false;
  return (st.mode & 0o022) === 0;
}

/**
 * Fills `taskDir` with each chroot_env entry (host path -> task path). Missing host paths are
 * skipped (as Nomad does); a host path that is a symlink becomes the same symlink. Device files,
 * sockets and FIFOs are skipped: /dev is the root plan's own tmpfs.
 */
export function populateChroot(
  mode: PopulateMode,
  chrootEnv: Readonly<Record<string, string>>,
  taskDir: string,
  task: TaskWriter,
): PopulateStats {
  const stats: PopulateStats = { linked: 0, copied: 0, symlinks: 0, dirs: 0 };
  // Parents before children, so /usr exists before /usr/local is filled.
  const entries = Object.entries(chrootEnv).sort(([, a], [, b]) => a.localeCompare(b));
  for (const [host, taskPath] of entries) {
    const st = lstatOrNull(host);
    if (st === null) continue;
    const dest = `${taskDir}${realParents(taskDir, taskPath)}`;
    copyTree(host, dest, st, mode, task, stats);
  }
  return stats;
}

/**
 * Makes every parent of `taskPath` inside the task dir and refuses a symlink among them: an
 * earlier entry may have placed one (an absolute host link), and writing through it would
 * write on the host. Returns the cleaned task path.
 */
function realParents(taskDir: string, taskPath: string): string {
  const parts = taskPath.split("/").filter((c) => c !== "" && c !== ".");
  let path = "";
  for (const part of parts.slice(0, -1)) {
    path += `/${part}`;
    const st = lstatOrNull(`${taskDir}${path}`);
    if (st === null) mkdirSync(`${taskDir}${path}`, { mode: 0o755 });
    else if (!st.isDirectory()) {
      throw new ChrootError(
        `chroot_env: ${path} in the task root is not a directory, cannot place ${taskPath}`,
      );
    }
  }
  return `${path}/${parts.at(-1) ?? ""}`;
}

function copyTree(
  src: string,
  dest: string,
  st: Stats,
  mode: PopulateMode,
  task: TaskWriter,
  s: PopulateStats,
) {
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dest);
    lchownSync(dest, st.uid, st.gid);
    s.symlinks++;
  } else if (st.isDirectory()) {
    const existing = lstatOrNull(dest);
    if (existing === null) mkdirSync(dest);
    else if (!existing.isDirectory())
      throw new ChrootError(`chroot_env: ${dest} exists and is not a directory`);
    for (const name of readdirSync(src)) {
      const child = lstatOrNull(`${src}/${name}`);
      if (child !== null) copyTree(`${src}/${name}`, `${dest}/${name}`, child, mode, task, s);
    }
    // Mode and owner last: a read-only directory must still receive its children first.
    lchownSync(dest, st.uid, st.gid);
    chmodSync(dest, st.mode & 0o7777);
    s.dirs++;
  } else if (st.isFile()) {
    if (mode === "link" && mayHardLink(st, task) && tryLink(src, dest)) {
      s.linked++;
      return;
    }
    // COPYFILE_EXCL: never write through something already at dest.
    copyFileSync(src, dest, constants.COPYFILE_EXCL);
    lchownSync(dest, st.uid, st.gid);
    chmodSync(dest, st.mode & 0o7777);
    s.copied++;
  }
}

/** EXDEV (another filesystem, e.g. the tasks tmpfs) and EPERM fall back to a copy. */
function tryLink(src: string, dest: string): boolean {
  try {
    linkSync(src, dest);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EXDEV" || code === "EPERM" || code === "EMLINK") return false;
    throw err;
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The task root before the clone: chroot_env content, artifacts, volume mount points

export interface PreparedRoot {
  /** chroot_env entries the root plan binds (none in link/copy mode: the files are in the task dir). */
  entries: RootEntry[];
  /** chroot_env as lookupCommand should map it (empty in link/copy mode). */
  chrootEnv: Readonly<Record<string, string>>;
  volumes: PreparedVolume[];
  /** Volume mounts for binary lookup step 3, in jobspec order. */
  lookupMounts: { hostPath: string; taskPath: string }[];
}

/**
 * Everything the parent puts in a fresh task dir, in the only safe order: chroot_env files
 * (link/copy mode) first, then artifacts (which refuse to write through any symlink already
 * there), then the volume mount points (which refuse symlinks anywhere on their path).
 */
export async function prepareTaskRoot(
  spec: TaskSpec,
  taskDir: string,
  user: { uid: number; gid: number },
  plugin: BunkerPluginConfig,
  bindEntries: RootEntry[],
): Promise<PreparedRoot> {
  const mode = plugin.chrootMode;
  const bind = mode === "bind";
  if (mode !== "bind")
    populateChroot(mode, plugin.chrootEnv, taskDir, { uid: user.uid, capAdd: spec.capAdd });
  if (spec.artifacts !== undefined && spec.artifacts.length > 0) {
    const fetchOpts: FetchOptions = { taskDir, uid: user.uid, gid: user.gid };
    if (plugin.artifactLimits !== undefined) fetchOpts.limits = plugin.artifactLimits;
    await fetchArtifacts(spec.artifacts, fetchOpts);
  }
  const entries = bind ? bindEntries : [];
  const mounts = spec.volumeMounts ?? [];
  return {
    entries,
    chrootEnv: bind ? plugin.chrootEnv : {},
    volumes: prepareVolumes(mounts, { taskDir, entries }),
    lookupMounts: lookupMounts(mounts),
  };
}
