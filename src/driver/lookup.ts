/**
 * Nomad's binary lookup for isolated tasks (executor_linux.go lookupTaskBin), in Nomad's order:
 *   1. <taskdir>/local/<cmd>
 *   2. <taskdir>/<cmd>
 *   3. each volume mount, in jobspec order (an absolute <cmd> under the mount's task path)
 *   4. only when <cmd> has no "/": /usr/local/bin, /usr/bin, /bin inside the task root
 * Never the agent's $PATH.
 *
 * Unlike Nomad, Bunker's task root is not a copy: it is the task dir with read-only bind mounts
 * of host directories (chroot_env, host -> task) and volume mounts on top. So a task path is
 * mapped to a host path through those binds (longest task-path prefix wins, like the mount
 * table would), and symlinks are followed the way the task will see them: relative to the task
 * root, never the host's. A link that climbs above the task root is refused.
 */
import { chmodSync, lstatSync, readlinkSync, type Stats, statSync } from "node:fs";
import { BunkerError } from "../errors.ts";

/** A volume mount: `hostPath` appears at `taskPath` inside the task. */
export interface VolumeMount {
  hostPath: string;
  taskPath: string;
}

export interface LookupOptions {
  /** Host path of the task dir; it is the task root "/" (holding local/, secrets/, tmp/...). */
  taskDir: string;
  /** host path -> task path read-only binds; empty when chroot_env was linked/copied into taskDir. */
  chrootEnv?: Readonly<Record<string, string>>;
  /** Volume mounts in jobspec order. */
  mounts?: readonly VolumeMount[];
  /** Nomad makes the binary executable; default true (only ever inside the task dir, see below). */
  makeExecutable?: boolean;
}

export interface LookupResult {
  /** Symlink-free path of the binary inside the task root (what the child execs). */
  taskPath: string;
  /** Where that file is on the host. */
  hostPath: string;
  /** The candidate path (before following links) that matched, e.g. "/usr/bin/sh". */
  searchedAs: string;
}

/** Raised when no step finds a regular file; Nomad's text, code "not_found". */
export class CommandNotFoundError extends BunkerError {
  readonly issues: { path: string; message: string }[];
  constructor(command: string, taskDir: string) {
    const message = `file ${command} not found under path ${taskDir}`;
    super("not_found", message, { command, taskDir });
    this.name = "CommandNotFoundError";
    this.issues = [{ path: "/config/command", message }];
  }
}

/** Kernel's limit on symlinks followed in one path resolution (ELOOP beyond). */
const MAX_SYMLINKS = 40;

const PATH_DIRS = ["/usr/local/bin", "/usr/bin", "/bin"] as const;

export function lookupCommand(command: string, opts: LookupOptions): LookupResult {
  const view = rootView(opts);
  for (const candidate of candidates(command, opts.mounts ?? [])) {
    const found = resolveInRoot(view, candidate);
    if (found === undefined) continue;
    if (opts.makeExecutable !== false) makeExecutable(view, found);
    return { taskPath: found.taskPath, hostPath: found.hostPath, searchedAs: candidate };
  }
  throw new CommandNotFoundError(command, opts.taskDir);
}

/** Task paths to try, in Nomad's order, without duplicates. */
export function candidates(command: string, mounts: readonly VolumeMount[]): string[] {
  if (command === "") return [];
  const out = [join("/local", command), join("/", command)];
  for (const m of mounts) {
    // Nomad takes the command relative to the mount's task path; a relative command cannot be.
    if (command.startsWith("/") && isUnder(clean(command), clean(m.taskPath))) out.push(clean(command));
  }
  if (!command.includes("/")) for (const dir of PATH_DIRS) out.push(join(dir, command));
  return [...new Set(out)];
}

// ---------------------------------------------------------------------------------------------
// The task root as the task will see it

interface Bind {
  taskPath: string;
  hostPath: string;
}

interface RootView {
  taskDir: string;
  /** Sorted longest task path first, so the innermost mount wins. */
  binds: Bind[];
}

/**
 * chroot_env's binds per map, resolved once: the driver resolves chroot_env
 * against the host once too (resolveChrootEnv), so a source that appears or
 * vanishes later is not followed by either.
 */
const chrootBinds = new WeakMap<object, RootView>();

/** Missing host sources are skipped, as the driver skips them when mounting. */
function rootView(opts: LookupOptions): RootView {
  const env = opts.chrootEnv;
  if (env && (opts.mounts ?? []).length === 0) {
    let view = chrootBinds.get(env);
    if (!view) {
      view = buildView({ ...opts, taskDir: "" });
      chrootBinds.set(env, view);
    }
    return { taskDir: opts.taskDir, binds: view.binds };
  }
  return buildView(opts);
}

function buildView(opts: LookupOptions): RootView {
  const binds: Bind[] = [];
  for (const [hostPath, taskPath] of Object.entries(opts.chrootEnv ?? {})) {
    if (exists(hostPath)) binds.push({ taskPath: clean(taskPath), hostPath });
  }
  // Volume mounts come after chroot_env in the mount order, so at equal task paths they win.
  for (const m of opts.mounts ?? []) {
    if (exists(m.hostPath)) binds.push({ taskPath: clean(m.taskPath), hostPath: m.hostPath });
  }
  const ordered = binds.map((b, i) => ({ b, i }));
  ordered.sort((x, y) => y.b.taskPath.length - x.b.taskPath.length || y.i - x.i);
  return { taskDir: opts.taskDir, binds: ordered.map((o) => o.b) };
}

interface HostLocation {
  path: string;
  /** The path is exactly a mount point: mount(2) followed the source's symlinks, so must we. */
  mountRoot: boolean;
  bind: Bind | undefined;
}

function toHost(view: RootView, taskPath: string): HostLocation {
  for (const bind of view.binds) {
    if (taskPath === bind.taskPath) return { path: bind.hostPath, mountRoot: true, bind };
    if (isUnder(taskPath, bind.taskPath)) {
      const rest = bind.taskPath === "/" ? taskPath : taskPath.slice(bind.taskPath.length);
      return { path: stripSlash(bind.hostPath) + rest, mountRoot: false, bind };
    }
  }
  return { path: stripSlash(view.taskDir) + taskPath, mountRoot: false, bind: undefined };
}

interface Found {
  taskPath: string;
  hostPath: string;
  stats: Stats;
  bind: Bind | undefined;
}

/**
 * Walks `taskPath` one component at a time, following symlinks inside the task root.
 * Returns undefined when the path does not exist, leaves the root, loops, or is not a regular file.
 */
function resolveInRoot(view: RootView, taskPath: string): Found | undefined {
  let pending = components(taskPath);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "..") {
      // Refused rather than clamped at "/" like the kernel does: a lookup that climbs out of
      // the root is a mistake or an attack, never a binary the operator meant.
      if (done.length === 0) return undefined;
      done.pop();
      continue;
    }
    done.push(part);
    const current = `/${done.join("/")}`;
    const loc = toHost(view, current);
    const st = statAt(loc);
    if (st === undefined) {
      // Mount points below the task dir (e.g. /run for /run/resolvconf) appear only at spawn.
      if (pending.length > 0 && isMountAncestor(view, current)) continue;
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) return undefined;
      const target = readlinkSync(loc.path, "utf8");
      done.pop();
      if (target.startsWith("/")) done.length = 0;
      pending = [...components(target), ...pending];
      continue;
    }
    if (pending.length > 0 && !st.isDirectory()) return undefined;
  }
  return finalFile(view, done);
}

function finalFile(view: RootView, done: string[]): Found | undefined {
  const taskPath = `/${done.join("/")}`;
  const loc = toHost(view, taskPath);
  const st = statAt(loc);
  if (st === undefined || !st.isFile()) return undefined;
  return { taskPath, hostPath: loc.path, stats: st, bind: loc.bind };
}

function statAt(loc: HostLocation): Stats | undefined {
  try {
    return loc.mountRoot ? statSync(loc.path) : lstatSync(loc.path);
  } catch {
    return undefined;
  }
}

function isMountAncestor(view: RootView, taskPath: string): boolean {
  return view.binds.some((b) => isUnder(b.taskPath, taskPath));
}

/**
 * Nomad chmods the binary +x. Bunker only does so for a file that is the task's own: inside the
 * task dir (not behind a bind of a host directory) and with a single link — a hard-linked file
 * (chroot_mode "link") shares its inode, and so its mode, with the host's copy.
 */
function makeExecutable(view: RootView, found: Found): void {
  if (found.bind !== undefined || found.stats.nlink !== 1) return;
  if (!isUnder(found.hostPath, stripSlash(view.taskDir))) return;
  const mode = found.stats.mode & 0o7777;
  if ((mode & 0o111) !== 0o111) chmodSync(found.hostPath, mode | 0o111);
}

// ---------------------------------------------------------------------------------------------
// Small path helpers (POSIX, no host-side symlink resolution)

function components(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/** Lexical join that keeps ".." for the walker to judge (unlike path.join, which clamps at "/"). */
function join(dir: string, rel: string): string {
  return `/${[...components(dir), ...components(rel)].join("/")}`;
}

/** Removes "." and duplicate slashes; ".." is kept for the walker. */
function clean(p: string): string {
  return `/${components(p).join("/")}`;
}

function stripSlash(p: string): string {
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

/** True when `p` is strictly below `dir` (component-wise, so /usr2 is not under /usr). */
function isUnder(p: string, dir: string): boolean {
  if (dir === "/") return p !== "/" && p.startsWith("/");
  return p.startsWith(`${dir}/`);
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
