/**
 * Nomad `volume_mount` blocks: validation (parseTask time) and the parent-side preparation of
 * each mount point inside the task root (start time, before the clone).
 *
 * As in Nomad, a task names a host volume the operator declared (plugin `host_volumes`, like the
 * client's `host_volume "name" { path = ... }`); a task can never bind an arbitrary host path.
 * The mount point is made by the parent, component by component inside the task root, and every
 * component must be a real directory: a symlink (say one an artifact unpacked) would make the
 * kernel resolve the child's mount target against the host's root, so it is refused, not followed.
 */
import { closeSync, lstatSync, mkdirSync, openSync, type Stats, statSync } from "node:fs";
import { BunkerError, ValidationError } from "../errors.ts";
import type { RootEntry } from "./root.ts";
import type { Propagation, VolumeMountSpec } from "./types.ts";

/** The task config's `volume_mount` block (Nomad's field names). */
export interface VolumeMountInput {
  volume: string;
  destination: string;
  read_only?: boolean;
  propagation_mode?: Propagation;
}

/** Mounted fresh by the root plan; a volume there would hide or be hidden by them. */
const RESERVED = ["/proc", "/dev", "/sys", "/secrets"] as const;

export const PROPAGATIONS: readonly Propagation[] = ["private", "host-to-task", "bidirectional"];

/** Raised at start when a mount point cannot be made safely inside the task root. */
export class VolumeError extends BunkerError {
  constructor(message: string, detail?: Record<string, unknown>) {
    super("volume_invalid", message, detail);
    this.name = "VolumeError";
  }
}

/** `volume_mount` list -> VolumeMountSpec[]; every problem becomes one issue. */
export function parseVolumeMounts(
  list: readonly VolumeMountInput[],
  hostVolumes: Readonly<Record<string, string>>,
): VolumeMountSpec[] {
  const problems: { path: string; message: string }[] = [];
  const out: VolumeMountSpec[] = [];
  const seen = new Set<string>();
  list.forEach((m, i) => {
    const at = (field: string) => `/volume_mount/${i}/${field}`;
    const source = Object.hasOwn(hostVolumes, m.volume) ? hostVolumes[m.volume] : undefined;
    if (source === undefined) {
      const known = Object.keys(hostVolumes).sort().join(", ") || "none";
      problems.push({
        path: at("volume"),
        message: `volume ${JSON.stringify(m.volume)} is not a host volume of this client (plugin host_volumes: ${known})`,
      });
    }
    const destProblem = destinationProblem(m.destination);
    if (destProblem !== null) {
      problems.push({ path: at("destination"), message: destProblem });
      return;
    }
    const destination = cleanPath(m.destination);
    if (seen.has(destination)) {
      problems.push({
        path: at("destination"),
        message: `volume_mount destination ${destination} is used twice`,
      });
    }
    seen.add(destination);
    if (source === undefined) return;
    out.push({
      volume: m.volume,
      source,
      destination,
      readOnly: m.read_only ?? false,
      propagation: m.propagation_mode ?? "private",
    });
  });
  if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join("; "), problems);
  return out;
}

/** Absolute, no "..", not the root, not over a mount the root plan makes itself. */
function destinationProblem(dest: string): string | null {
  const q = JSON.stringify(dest);
  if (!dest.startsWith("/")) return `volume_mount destination must be absolute, got ${q}`;
  if (dest.includes("\0")) return "volume_mount destination contains a NUL byte";
  if (dest.split("/").includes("..")) return `volume_mount destination must not contain "..", got ${q}`;
  const clean = cleanPath(dest);
  if (clean === "/") return "volume_mount destination cannot be the task root /";
  const reserved = RESERVED.find((r) => clean === r || clean.startsWith(`${r}/`));
  if (reserved !== undefined) {
    return `volume_mount destination ${clean} overlaps ${reserved}, which the driver mounts itself`;
  }
  return null;
}

function cleanPath(p: string): string {
  return `/${p
    .split("/")
    .filter((c) => c !== "" && c !== ".")
    .join("/")}`;
}

/** A volume ready for the root plan: its mount point exists and holds no symlink. */
export interface PreparedVolume {
  source: string;
  /** Host path of the mount point as the child sees it before pivot_root (binds in place). */
  target: string;
  /** Task path, for messages and binary lookup. */
  destination: string;
  readOnly: boolean;
  propagation: Propagation;
}

export interface PrepareVolumesOptions {
  taskDir: string;
  /** chroot_env as bound into the root (bind mode); empty when linked/copied into taskDir. */
  entries: readonly RootEntry[];
}

/**
 * Creates each mount point inside the task root (owned by root, 0755) and checks every path
 * component on the way. Runs before the clone, when no task process exists to race with.
 */
export function prepareVolumes(
  mounts: readonly VolumeMountSpec[],
  opts: PrepareVolumesOptions,
): PreparedVolume[] {
  return mounts.map((m) => {
    const src = statOrNull(m.source, true);
    if (src === null || !(src.isDirectory() || src.isFile())) {
      throw new VolumeError(
        `volume ${JSON.stringify(m.volume)}: host path ${m.source} is missing or not a file or directory`,
        { volume: m.volume, source: m.source },
      );
    }
    makeMountPoint(m, src.isDirectory(), opts);
    return {
      source: m.source,
      target: `${opts.taskDir}${m.destination}`,
      destination: m.destination,
      readOnly: m.readOnly,
      propagation: m.propagation,
    };
  });
}

function makeMountPoint(m: VolumeMountSpec, isDir: boolean, opts: PrepareVolumesOptions): void {
  const parts = m.destination.split("/").filter(Boolean);
  const fail = (why: string) => {
    throw new VolumeError(`volume_mount destination ${m.destination}: ${why}`, {
      volume: m.volume,
      destination: m.destination,
    });
  };
  let taskPath = "";
  parts.forEach((part, i) => {
    taskPath += `/${part}`;
    const last = i === parts.length - 1;
    const entry = opts.entries.find((e) => e.task === taskPath);
    if (entry?.kind === "symlink") {
      fail(
        `${taskPath} is a symlink in the task root (chroot_env, to ${entry.target}); refusing to follow it`,
      );
    }
    const bind = opts.entries.find(
      (e) => e.kind === "bind" && (taskPath === e.task || taskPath.startsWith(`${e.task}/`)),
    );
    const host =
      bind?.kind === "bind"
        ? `${bind.host}${taskPath.slice(bind.task.length)}`
        : `${opts.taskDir}${taskPath}`;
    // A chroot_env mount point itself is made by the child; its host source is what counts.
    const st = statOrNull(host, false);
    if (st === null) {
      if (bind !== undefined) {
        fail(
          `${taskPath} does not exist in the read-only chroot_env directory ${bind.task}, and cannot be created there`,
        );
      }
      if (last && !isDir) closeSync(openSync(host, "wx", 0o644));
      else mkdirSync(host, { mode: 0o755 });
      return;
    }
    if (st.isSymbolicLink()) fail(`${taskPath} is a symlink in the task root; refusing to follow it`);
    if (!last && !st.isDirectory()) fail(`${taskPath} is not a directory`);
    if (last && st.isDirectory() !== isDir) {
      fail(`the host path ${m.source} is a ${isDir ? "directory" : "file"} but ${taskPath} is not`);
    }
  });
}

function statOrNull(path: string, follow: boolean): Stats | null {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch {
    return null;
  }
}

/** What binary lookup (step 3) needs: each volume's host path and task path, in jobspec order. */
export function lookupMounts(mounts: readonly VolumeMountSpec[]): { hostPath: string; taskPath: string }[] {
  return mounts.map((m) => ({ hostPath: m.source, taskPath: m.destination }));
}
