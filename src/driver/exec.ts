/**
 * The exec driver: TaskSpec + plugin config -> plan -> isolated child ->
 * Outcome, with Nomad's semantics (see ../shared/NOMAD-REFERENCE.md).
 *
 * prepare() validates and builds everything on the parent side (user, caps,
 * command lookup, task dir, cgroup), then clones bunker-init into the task's
 * namespaces, root and cgroup, where it waits: a ready slot. launch() sends
 * the request (argv, env, credentials, stdio) and the task runs. start() is
 * both at once (the cold path); the pool keeps prepared slots (the warm one).
 *
 * wait() resolves as soon as the task's end is known; the cgroup, the task
 * directory and the namespaces are torn down right after, off the caller's
 * path — closed() resolves when that is done.
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { ReadStream } from "node:tty";
import { cgroupManager, detectCgroups, joinPaths } from "../cgroup/index.ts";
import { favorDynmods, type TuneResult } from "../cgroup/tune.ts";
import type { CgroupLimits, CgroupManager, CgroupPeaks, TaskCgroup } from "../cgroup/types.ts";
import { BunkerError } from "../errors.ts";
import { type Child, type ChildExit, decodeWaitStatus, startChild } from "../sys/child.ts";
import { EACCES, ENOENT, ENOEXEC } from "../sys/errno.ts";
import { closeFd, INIT_PATH, killPid, openFd, openPty, pipe, setWinsize } from "../sys/native.ts";
import type { PlanStep, SpawnPlan } from "../sys/plan.ts";
import {
  BK_OP_CHROOT,
  BK_OP_SETNS,
  BK_OP_WRITE,
  BK_STEP_EXEC,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUTS,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
  O_RDWR,
} from "../sys/protocol.ts";
import type { CapabilitySets, ExecRequest, TaskIdentity } from "../sys/request.ts";
import { type JobError, Threads } from "../threads.ts";
import type {
  Driver,
  ExecOptions,
  ExecSession,
  Fingerprint,
  StartOptions,
  StdioSpec,
  TaskHandle,
  TaskStdin,
} from "./api.ts";
import { capNumber, capSets, computeCaps, parseCapList } from "./caps.ts";
import { prepareTaskRoot } from "./chroot.ts";
import type { BunkerPluginConfig } from "./config.ts";
import { fingerprint } from "./fingerprint.ts";
import { interpolateArgs } from "./interpolate.ts";
import { type LookupOptions, lookupCommand } from "./lookup.ts";
import { NetworkGroups, networkPlan } from "./network.ts";
import { type RootEntry, resolveChrootEnv, rootSteps } from "./root.ts";
import { parseSignal } from "./signals.ts";
import { StatsSampler, statsStream, type TaskStats } from "./stats.ts";
import {
  createTaskDir,
  DEFAULT_RUN_DIR,
  ensureRunDir,
  removeTaskDir,
  type TaskDir,
  taskDirAt,
} from "./taskdir.ts";
import type { TeardownJob, TeardownResult } from "./teardown-worker.ts";
import type { Outcome, TaskSpec, TerminationReason, Usage } from "./types.ts";
import { type ResolvedUser, resolveUser } from "./users.ts";

const SIGKILL = 9;
const SIGSTOP = 19;
const MB = 1024 * 1024;

export interface ExecDriverOptions {
  plugin: BunkerPluginConfig;
  /** Bunker's data directory (network group namespaces live in <dataDir>/netns). */
  dataDir: string;
  /**
   * Host-wide runtime directory, one tmpfs shared by every Bunker on the host
   * (default /run/bunker); this driver's task directories are <runDir>/<instance>/.
   */
  runDir?: string;
  /** Turn on the kernel's cgroup favordynmods on v1/hybrid hosts (see src/cgroup/tune.ts); default true. */
  favorDynmods?: boolean;
  cgroups?: CgroupManager;
  /** Node attributes for `${attr.*}` interpolation. */
  attributes?: Record<string, string>;
}

/**
 * A task id: `<instance>-<time>-<random>`, safe as a hostname, a directory and
 * a cgroup name. The instance prefix (from the data directory) marks which
 * Bunker a cgroup belongs to, so one server's recovery never touches the
 * tasks of another sharing the host's `bunker` cgroup parent.
 */
export function newTaskId(instance: string): string {
  const rand = crypto.getRandomValues(new Uint8Array(5));
  return `${instance}-${Date.now().toString(36)}-${Buffer.from(rand).toString("hex")}`;
}

/** A short stable name for a data directory. */
export function instanceOf(dataDir: string): string {
  return new Bun.CryptoHasher("sha256").update(resolve(dataDir)).digest("hex").slice(0, 8);
}

function limitsOf(spec: TaskSpec): CgroupLimits {
  const r = spec.resources;
  const limits: CgroupLimits = { cpuShares: r.cpu, memoryBytes: (r.memoryMax ?? r.memory) * MB };
  if (r.memoryMax !== undefined) limits.memoryReservationBytes = r.memory * MB;
  if (r.cpuHardMhz !== undefined) limits.cpuQuotaMhz = r.cpuHardMhz;
  if (r.cores !== undefined) limits.cpus = r.cores === 1 ? "0" : `0-${r.cores - 1}`;
  if (r.pids !== undefined) limits.pids = r.pids;
  return limits;
}

/** The task's environment: what it was given plus Nomad's variables; nothing of the server's. */
export function taskEnv(spec: TaskSpec, user: ResolvedUser, id: string): Record<string, string> {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: user.home,
    USER: user.name,
    NOMAD_TASK_NAME: spec.name,
    NOMAD_ALLOC_ID: id,
    NOMAD_TASK_DIR: "/local",
    NOMAD_ALLOC_DIR: "/alloc",
    NOMAD_SECRETS_DIR: "/secrets",
    ...spec.env,
  };
}

/** The task's capability sets; every start of a function asks the same question, so it is computed once. */
function capabilitySets(spec: TaskSpec, plugin: BunkerPluginConfig, uid: number): CapabilitySets {
  const key = `${uid}|${spec.capAdd.join(",")}|${spec.capDrop.join(",")}`;
  let sets = capCache.get(plugin)?.get(key);
  if (!sets) {
    sets = computeCapabilitySets(spec, plugin, uid);
    const byKey = capCache.get(plugin) ?? new Map<string, CapabilitySets>();
    if (byKey.size >= 1024) byKey.clear();
    capCache.set(plugin, byKey.set(key, sets));
  }
  return sets;
}

const capCache = new WeakMap<BunkerPluginConfig, Map<string, CapabilitySets>>();

/**
 * Capability sets: root keeps the computed set through exec via the bounding
 * set; a non-root user gets, as ambient, only what was explicitly added with
 * cap_add — Nomad hands the whole default set to every non-root task, which
 * would give `nobody` CAP_DAC_OVERRIDE over the bound host /etc.
 */
function computeCapabilitySets(spec: TaskSpec, plugin: BunkerPluginConfig, uid: number): CapabilitySets {
  const { mask } = computeCaps({ allowCaps: plugin.allowCaps, capAdd: spec.capAdd, capDrop: spec.capDrop });
  if (uid === 0) return capSets(mask, true);
  let added = 0n;
  for (const name of parseCapList("cap_add", spec.capAdd)) added |= 1n << BigInt(capNumber(name));
  return { ...capSets(mask & added, false), bounding: mask };
}

interface Stdio {
  /** fds for the child's 0, 1, 2. */
  child: [number, number, number];
  /** fds to close in the parent once the child holds its copies. */
  closeAfterStart: number[];
  stdin: TaskStdin | null;
  stdout: ReadableStream<Uint8Array> | null;
  stderr: ReadableStream<Uint8Array> | null;
}

/** A pipe's write end; Bun's FileSink never closes an fd it did not open, so end() does. */
function writeSink(fd: number): TaskStdin {
  const sink = Bun.file(fd).writer();
  let open = true;
  return {
    async write(chunk) {
      if (!open) throw new BunkerError("stdin_closed", "the task's stdin is already closed");
      sink.write(chunk);
      await sink.flush();
    },
    async end() {
      if (!open) return;
      open = false;
      try {
        await sink.end();
      } finally {
        closeFd(fd);
      }
    },
  };
}

/** A pipe's read end as a web stream that closes its fd when done or cancelled. */
function readStream(fd: number): ReadableStream<Uint8Array> {
  const source = Bun.file(fd).stream();
  const reader = source.getReader();
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      closeFd(fd);
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        close();
        controller.close();
      } else controller.enqueue(value);
    },
    async cancel(reason) {
      await reader.cancel(reason);
      close();
    },
  });
}

/** `devNull` is the driver's one O_RDWR /dev/null; the child gets its own copies over SCM_RIGHTS. */
function makeStdio(specs: [StdioSpec, StdioSpec, StdioSpec], devNull: number): Stdio {
  const io: Stdio = { child: [-1, -1, -1], closeAfterStart: [], stdin: null, stdout: null, stderr: null };
  specs.forEach((spec, n) => {
    if (typeof spec === "number") io.child[n] = spec;
    else if (spec === "inherit") io.child[n] = n;
    else if (spec === "null") io.child[n] = devNull;
    else {
      const [r, w] = pipe();
      io.child[n] = n === 0 ? r : w;
      io.closeAfterStart.push(n === 0 ? r : w);
      if (n === 0) io.stdin = writeSink(w);
      else if (n === 1) io.stdout = readStream(r);
      else io.stderr = readStream(r);
    }
  });
  return io;
}

/** Host pid of the task's main process: bunker-init's only direct child. */
function mainPidOf(initPid: number): number | null {
  try {
    const first = readFileSync(`/proc/${initPid}/task/${initPid}/children`, "utf8").trim().split(" ")[0];
    return first ? Number(first) : null;
  } catch {
    return null;
  }
}

function usageOf(exit: ChildExit, peaks: CgroupPeaks): Usage {
  return {
    cpuUserMs: exit.userUs / 1000,
    cpuSystemMs: exit.systemUs / 1000,
    memoryPeakBytes: peaks.memoryBytes ?? 0,
    pidsPeak: peaks.pids ?? 0,
    maxRssBytes: exit.maxRssKb * 1024,
  };
}

interface EndState {
  timedOut: boolean;
  stopped: boolean;
}

/** Exit code and termination reason, in Nomad's terms with Bunker's 124/126/127. */
export function outcomeOf(exit: ChildExit, end: EndState, oom: boolean): Omit<Outcome, "wallMs" | "usage"> {
  if (exit.setupFailure) {
    const f = exit.setupFailure;
    const isExec = f.step === BK_STEP_EXEC;
    const exitCode =
      isExec && f.errno === ENOENT ? 127 : isExec && (f.errno === EACCES || f.errno === ENOEXEC) ? 126 : 125;
    return { reason: "setup_failed", exitCode, signal: null, error: f.message };
  }
  const { code, signal } = decodeWaitStatus(exit.mainStatus ?? exit.initStatus ?? 0);
  const exitCode = signal === null ? (code ?? 0) : 128 + signal;
  let reason: TerminationReason = signal === null ? "exited" : "signaled";
  if (oom) reason = "oom";
  else if (end.stopped) reason = "stopped";
  if (end.timedOut) return { reason: "timeout", exitCode: 124, signal };
  return { reason, exitCode, signal };
}

/** Everything a prepared slot holds until it is launched or discarded. */
interface Slot {
  id: string;
  spec: TaskSpec & { meta?: Record<string, string> };
  user: ResolvedUser;
  caps: CapabilitySets;
  execPath: string;
  child: Child;
  cgroup: TaskCgroup;
  dir: TaskDir;
  preparedAt: number;
  /** Drops what the slot shares with others (its network group), at teardown. */
  release: () => void;
  /** How commands resolve in this task's root (alloc exec uses it too). */
  lookup: LookupOptions;
}

/**
 * Per-invocation inputs. `spec` replaces the prepared spec's per-invocation
 * fields (args, env, timeout, kill signal and timeout); the fields that shaped
 * the slot must be the same (the pool keys slots by them).
 */
export interface LaunchOptions extends StartOptions {
  spec?: TaskSpec & { meta?: Record<string, string> };
  /** Reported as TaskHandle.warm: the slot was ready before the invocation came. */
  warm?: boolean;
}

export interface PreparedTask {
  readonly id: string;
  /** Host pid of the slot's bunker-init. */
  readonly pid: number;
  /** False when the slot died while it waited (its zygote was killed). */
  readonly alive: boolean;
  /** When the slot became ready (performance.now()). */
  readonly preparedAt: number;
  launch(opts?: LaunchOptions): TaskHandle;
  /** Tears an unused slot down; resolves when nothing of it is left. */
  discard(): Promise<void>;
}

class ExecTask implements TaskHandle {
  readonly id: string;
  readonly pid: number;
  readonly warm: boolean;
  readonly stdin: TaskStdin | null;
  readonly stdout: ReadableStream<Uint8Array> | null;
  readonly stderr: ReadableStream<Uint8Array> | null;
  private readonly end: EndState = { timedOut: false, stopped: false };
  private readonly done: Promise<Outcome>;
  private readonly cleaned: Promise<void>;
  private finished = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly sampler = new StatsSampler(Date.now());

  constructor(
    private readonly slot: Slot,
    private readonly spec: TaskSpec,
    private readonly plugin: BunkerPluginConfig,
    io: Stdio,
    startedAt: number,
    warm: boolean,
    track: (p: Promise<void>) => void,
    private readonly shared: SharedFds,
  ) {
    this.id = slot.id;
    this.pid = slot.child.pid;
    this.warm = warm;
    this.stdin = io.stdin;
    this.stdout = io.stdout;
    this.stderr = io.stderr;
    if (spec.timeoutMs !== undefined) {
      this.timer = setTimeout(() => {
        this.end.timedOut = true;
        void this.killAll();
      }, spec.timeoutMs);
    }
    this.done = this.finish(startedAt);
    this.cleaned = this.done.then(
      () => teardown(slot),
      () => teardown(slot),
    );
    track(this.cleaned);
  }

  private async finish(startedAt: number): Promise<Outcome> {
    const exit = await this.slot.child.exited;
    const wallMs = performance.now() - startedAt;
    clearTimeout(this.timer);
    this.finished = true;
    // A caller that never ended stdin must not leak the pipe.
    await this.stdin?.end().catch(() => undefined);
    // Read while the cgroup still exists; teardown follows off this path.
    const peaks = this.slot.cgroup.peaks();
    return { ...outcomeOf(exit, this.end, peaks.oomKilled), wallMs, usage: usageOf(exit, peaks) };
  }

  wait(): Promise<Outcome> {
    return this.done;
  }

  /** Nomad's TaskResourceUsage from the task's cgroup; throws once the task has ended. */
  stats(): TaskStats {
    if (this.finished) throw new BunkerError("task_finished", `task ${this.id} has ended`);
    return this.sampler.sample(this.slot.cgroup.stats());
  }

  /** A sample every `intervalMs` (Nomad: 1 s) until the task exits. */
  statsStream(intervalMs = 1000): AsyncIterable<TaskStats> {
    const read = () => this.stats();
    return statsStream(read, this.done, () => this.finished, intervalMs);
  }

  /** Nomad `alloc exec`; see execInto. */
  async exec(command: string, args: string[], opts: ExecOptions = {}): Promise<ExecSession> {
    if (this.finished) throw new BunkerError("task_finished", `task ${this.id} has ended`);
    return execInto(this.slot, this.spec, this.plugin, command, args, opts, this.shared);
  }

  /** Resolves when the task's cgroup, task directory and processes are all gone. */
  closed(): Promise<void> {
    return this.cleaned;
  }

  signal(signal: string, scope: "main" | "group" | "all" = "main"): void {
    const num = parseSignal(signal, "/signal");
    if (this.finished) return;
    if (scope === "all") {
      for (const pid of this.slot.cgroup.pids()) if (pid !== this.pid) killQuietly(pid, num);
      return;
    }
    const main = mainPidOf(this.pid);
    // bunker-init forwards what it receives to the main process, also a signal that
    // arrives before the main process exists (it stays pending until the fork).
    // SIGKILL and SIGSTOP cannot be caught, so they go to the process itself.
    const uncatchable = num === SIGKILL || num === SIGSTOP;
    if (scope === "group" && main !== null) killQuietly(-main, num);
    else if (uncatchable && main !== null) killQuietly(main, num);
    else this.slot.child.signal(num);
  }

  /** Nomad's stop: kill_signal, then SIGKILL of everything after the grace period. */
  async stop(opts: { signal?: string; timeoutMs?: number } = {}): Promise<Outcome> {
    if (!this.finished) {
      this.end.stopped = true;
      const grace = Math.min(opts.timeoutMs ?? this.spec.killTimeoutMs, this.plugin.maxKillTimeoutMs);
      this.signal(opts.signal ?? this.spec.killSignal, "main");
      const timer = setTimeout(() => void this.killAll(), grace);
      await this.done.finally(() => clearTimeout(timer));
    }
    return this.done;
  }

  private async killAll(): Promise<void> {
    if (this.finished) return;
    // SIGKILL to a PID namespace's init takes every process in it down; the
    // cgroup kill covers host PID mode and anything that escaped the group.
    this.slot.child.signal(SIGKILL);
    await this.slot.cgroup.kill();
  }
}

interface SharedFds {
  initFd: number;
  devNull: number;
}

const NS_OF_TASK = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;

/**
 * A new process inside a running task: a child joins the task's cgroup, then
 * every namespace of the task's bunker-init at once (setns with its pidfd),
 * which also makes the task's root its own; it then execs bunker-init, whose
 * child — in the task's PID namespace — drops to the task's user and
 * capabilities and runs the command. That helper is non-dumpable and holds
 * no host directory, so the task can neither ptrace it nor walk out through it.
 */
async function execInto(
  slot: Slot,
  spec: TaskSpec,
  plugin: BunkerPluginConfig,
  command: string,
  args: string[],
  opts: ExecOptions,
  shared: SharedFds,
): Promise<ExecSession> {
  const exe = lookupCommand(command, { ...slot.lookup, makeExecutable: false });
  const nsFd = slot.child.nsFd;
  if (nsFd < 0) throw new BunkerError("task_finished", `task ${slot.id} has ended`);
  const netns = spec.network && spec.network.mode !== "host" ? CLONE_NEWNET : 0;
  const cgroupFd =
    slot.cgroup.unifiedDir === null ? -1 : openFd(slot.cgroup.unifiedDir, O_RDONLY | O_DIRECTORY);
  const steps: PlanStep[] = joinPaths(slot.cgroup, cgroupFd >= 0).map((path) => ({
    code: BK_OP_WRITE,
    num: 0,
    args: [path, "0"],
    what: "join cgroup",
    path,
  }));
  steps.push({
    code: BK_OP_SETNS,
    num: nsFd,
    args: [String(NS_OF_TASK | netns)],
    what: "setns into task",
    path: slot.id,
  });
  // setns into a mount namespace moves us to its root: after pivot_root that is the task's root;
  // with no_pivot_root it is the host's, so chroot into the task dir again.
  if (plugin.noPivotRoot)
    steps.push({ code: BK_OP_CHROOT, num: 0, args: [slot.dir.root], what: "chroot", path: slot.dir.root });
  let child: Child;
  try {
    child = await startChild(
      {
        cloneFlags: 0,
        cgroupFd,
        initFd: shared.initFd,
        stdio: [shared.devNull, shared.devNull, shared.devNull],
        steps,
        argv: ["bunker-init"],
        envp: [],
      },
      identityOf(slot),
    );
  } finally {
    if (cgroupFd >= 0) closeFd(cgroupFd);
  }
  const request: ExecRequest = {
    ...requestOf(slot, { ...spec, command, args, env: { ...spec.env, ...opts.env } }),
    path: exe.taskPath,
    tty: opts.tty === true,
  };
  return opts.tty ? ttySession(slot, child, request, opts) : pipeSession(child, request);
}

function sessionOf(
  child: Child,
  io: { stdin: TaskStdin; stdout: ReadableStream<Uint8Array>; stderr: ReadableStream<Uint8Array> | null },
  resize: (cols: number, rows: number) => void,
): ExecSession {
  return {
    pid: child.pid,
    ...io,
    async wait() {
      const exit = await child.exited;
      const o = outcomeOf(exit, { timedOut: false, stopped: false }, false);
      return o.error === undefined
        ? { exitCode: o.exitCode, signal: o.signal }
        : { exitCode: o.exitCode, signal: o.signal, error: o.error };
    },
    resize,
    signal(name: string) {
      child.signal(parseSignal(name, "/signal"));
    },
  };
}

function pipeSession(child: Child, request: ExecRequest): ExecSession {
  const io = makeStdio(["pipe", "pipe", "pipe"], -1);
  try {
    child.launch(request, io.child);
  } finally {
    for (const fd of io.closeAfterStart) closeFd(fd);
  }
  return sessionOf(child, { stdin: io.stdin!, stdout: io.stdout!, stderr: io.stderr }, () => undefined);
}

/** A terminal from the task's own devpts instance, so it is /dev/pts/N inside the task. */
function ttySession(slot: Slot, child: Child, request: ExecRequest, opts: ExecOptions): ExecSession {
  const [master, peer] = openPty(`/proc/${slot.child.pid}/root/dev/pts/ptmx`);
  try {
    setWinsize(master, opts.cols ?? 80, opts.rows ?? 24);
    child.launch(request, [peer, peer, peer]);
  } catch (err) {
    closeFd(master);
    throw err;
  } finally {
    closeFd(peer);
  }
  const out = ptyStream(master);
  const stdin: TaskStdin = {
    async write(chunk) {
      // Interactive input is small; a full terminal buffer only delays the typist.
      if (!out.closed()) writeSync(master, chunk);
    },
    end: async () => undefined,
  };
  return sessionOf(child, { stdin, stdout: out.stream, stderr: null }, (cols, rows) => {
    if (!out.closed()) setWinsize(master, cols, rows);
  });
}

/**
 * A pty master as a web stream. Bun's file streams pread() and fail on a
 * terminal, so node's tty.ReadStream (event-driven) reads it; it owns and
 * closes the fd. EIO is how a master reports that every peer has closed.
 */
function ptyStream(master: number): { stream: ReadableStream<Uint8Array>; closed: () => boolean } {
  const rs = new ReadStream(master);
  let closed = false;
  rs.on("close", () => {
    closed = true;
  });
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      rs.on("data", (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)));
      const end = () => {
        try {
          controller.close();
        } catch {
          // already closed by a cancel
        }
      };
      rs.on("end", end);
      rs.on("error", end);
    },
    cancel() {
      rs.destroy();
    },
  });
  return { stream, closed: () => closed };
}

/** After the end: reap, then the cgroup (and any process left in host PID mode), then the task dir. */
async function teardown(slot: Slot): Promise<void> {
  await slot.child.reaped;
  slot.cgroup.closeFiles();
  // The common end on a teardown thread; a cgroup that still holds something (host PID mode,
  // a sub-cgroup) is killed and removed here, and only then its task directory.
  const { cgroupBusy } = await teardownOnThread({ cgroupDirs: slot.cgroup.dirs, taskDir: slot.dir.root });
  if (cgroupBusy) {
    await slot.cgroup.remove();
    removeTaskDir(slot.dir);
  }
  slot.release();
}

let teardownThreads: Threads<TeardownJob, TeardownResult> | undefined;

async function teardownOnThread(job: TeardownJob): Promise<TeardownResult> {
  teardownThreads ??= new Threads(new URL("./teardown-worker.ts", import.meta.url), 1, "bunker-teardown");
  return teardownThreads.run(job).catch((e: JobError) => {
    throw new BunkerError("teardown", e.message ?? "task teardown failed");
  });
}

/**
 * Does the server's share of what the child waits for, then opens the gate. A
 * gate closed unopened (the work threw) reads as EOF: the child gives up
 * (ECANCELED) instead of going on.
 */
function passGate(gate: [number, number] | null, work: () => void): void {
  try {
    work();
    if (gate) writeSync(gate[1], "1");
  } finally {
    if (gate) closeFd(gate[1]);
  }
}

function killQuietly(pid: number, signal: number): void {
  try {
    killPid(pid, signal);
  } catch {
    // Gone between listing and signalling: nothing to do.
  }
}

/** Who the task runs as: fixed by the slot, taken by the task's process before it is launched. */
function identityOf(slot: { user: ResolvedUser; caps: CapabilitySets }): TaskIdentity {
  return {
    uid: slot.user.uid,
    gid: slot.user.gid,
    groups: slot.user.groups,
    caps: slot.caps,
    noNewPrivs: true,
    rlimits: [],
  };
}

function requestOf(slot: Slot, spec: TaskSpec & { meta?: Record<string, string> }): ExecRequest {
  const env = taskEnv(spec, slot.user, slot.id);
  const args = interpolateArgs(spec.args, env, spec.meta ?? {}, {});
  return {
    cwd: slot.spec.workDir ?? "/",
    path: slot.execPath,
    argv: [spec.command, ...args],
    envp: Object.entries(env).map(([k, v]) => `${k}=${v}`),
  };
}

export class ExecDriver implements Driver {
  private readonly entries: RootEntry[];
  private readonly tasksDir: string;
  private shared: SharedFds | null = null;
  private cachedFingerprint: { at: number; value: Fingerprint } | null = null;
  private readonly pending = new Set<Promise<void>>();

  private readonly groups: NetworkGroups;

  constructor(private readonly opts: ExecDriverOptions) {
    this.entries = resolveChrootEnv(opts.plugin.chrootEnv);
    this.instance = instanceOf(opts.dataDir);
    this.runDir = opts.runDir ?? DEFAULT_RUN_DIR;
    this.tasksDir = `${this.runDir}/${this.instance}`;
    this.groups = new NetworkGroups(`${opts.dataDir}/netns`);
  }

  /** Prefix of this driver's task ids and cgroup names. */
  readonly instance: string;
  private readonly runDir: string;
  /** What the cgroup tuning did on first use (doctor and /system/info show it). */
  tuning: TuneResult | "off" = "off";

  /** Host directory holding one directory per task (a tmpfs of Bunker's own). */
  get tasksRoot(): string {
    return this.tasksDir;
  }

  /** Nomad re-fingerprints every 30 s; so does Bunker. */
  fingerprint(): Fingerprint {
    const now = Date.now();
    if (!this.cachedFingerprint || now - this.cachedFingerprint.at > 30_000) {
      this.cachedFingerprint = { at: now, value: fingerprint() };
    }
    return this.cachedFingerprint.value;
  }

  private get cgroups(): CgroupManager {
    return this.opts.cgroups ?? cgroupManager();
  }

  /** First use: the tasks tmpfs, bunker-init's fd and /dev/null for idle slots, once. */
  private sharedFds(): SharedFds {
    if (this.shared === null) {
      ensureRunDir(this.runDir);
      if (this.opts.favorDynmods !== false) this.tuning = favorDynmods(detectCgroups());
      mkdirSync(this.tasksDir, { recursive: true, mode: 0o711 });
      this.shared = { initFd: openFd(INIT_PATH, O_PATH), devNull: openFd("/dev/null", O_RDWR) };
    }
    return this.shared;
  }

  private track = (p: Promise<void>): void => {
    const quiet = p.catch((err: unknown) => console.error(`bunker: task teardown failed: ${String(err)}`));
    this.pending.add(quiet);
    void quiet.finally(() => this.pending.delete(quiet));
  };

  /** Shutdown: waits for every teardown and removes this driver's (empty) task directory. */
  async close(): Promise<void> {
    await this.drain();
    if (this.shared === null) return;
    closeFd(this.shared.initFd);
    closeFd(this.shared.devNull);
    this.shared = null;
    try {
      rmdirSync(this.tasksDir);
    } catch {
      // Not empty: slots of a pool still hold task directories; recover() sweeps them.
    }
  }

  /** Resolves when every ended task has been torn down. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** A ready slot: task dir, cgroup, and bunker-init waiting in the task's namespaces and root. */
  prepare(spec: TaskSpec & { meta?: Record<string, string> }): Promise<PreparedTask> {
    return this.#prepare(spec, true);
  }

  /**
   * `ahead`: the slot waits for an invocation, so what its end will read is
   * opened now; a cold start opens it right after the launch instead, while
   * the task execs.
   */
  async #prepare(spec: TaskSpec & { meta?: Record<string, string> }, ahead: boolean): Promise<PreparedTask> {
    const fp = this.fingerprint();
    if (fp.health !== "healthy") throw new BunkerError("driver_unhealthy", fp.description);
    const preparedAt = performance.now();
    const { plugin } = this.opts;
    const id = newTaskId(this.instance);
    const etc = Object.entries(plugin.chrootEnv).find(([, task]) => task === "/etc")?.[0];
    const user = resolveUser(spec.user, {
      root: etc ? etc.slice(0, -"/etc".length) || "/" : "/",
      allowRoot: plugin.allowRoot,
      deniedHostUids: plugin.deniedHostUids,
      deniedHostGids: plugin.deniedHostGids,
    });
    const caps = capabilitySets(spec, plugin, user.uid);
    const { initFd, devNull } = this.sharedFds();
    const net = spec.network ?? { mode: "host" as const };
    // A task that needs nothing put in its directory beforehand (no artifacts, no volume mount
    // points, no generated network files, bind mode) gets it made while the clone is created.
    // Keep in step with what prepareTaskRoot and networkPlan write there.
    const later =
      plugin.chrootMode === "bind" &&
      (spec.artifacts ?? []).length === 0 &&
      (spec.volumeMounts ?? []).length === 0 &&
      net.mode === "host";
    const dir = later ? taskDirAt(this.tasksDir, id) : createTaskDir(this.tasksDir, id, user.uid, user.gid);
    const undo: (() => unknown)[] = [() => removeTaskDir(dir)];
    try {
      const root = await prepareTaskRoot(spec, dir.root, user, plugin, this.entries);
      const lookup: LookupOptions = {
        taskDir: dir.root,
        chrootEnv: root.chrootEnv,
        mounts: root.lookupMounts,
      };
      const group = net.mode === "group" ? (net.group ?? "") : null;
      const groupFd = group === null ? null : this.groups.acquire(group);
      const release = () => group !== null && this.groups.release(group);
      undo.push(release);
      const network = networkPlan(net, {
        root: dir.root,
        privateDir: `${dir.root}/private`,
        hostname: spec.name,
        groupFd,
      });
      // On v2 the cgroup is made now, for CLONE_INTO_CGROUP (no cgroup.procs write, which costs
      // an RCU grace period without favordynmods); with v1 hierarchies while the child builds
      // the root, which joins them once the gate says they exist.
      const cgroupPlan = this.cgroups.createForClone(id, limitsOf(spec));
      const cgroup = cgroupPlan.cgroup;
      undo.unshift(() => cgroup.remove());
      const cgroupFd =
        cgroupPlan.cloneInto === null ? -1 : openFd(cgroupPlan.cloneInto, O_RDONLY | O_DIRECTORY);
      const gate = cgroupPlan.mkdirs.length > 0 ? pipe() : null;
      const startGate = later ? pipe() : null;
      const plan: SpawnPlan = {
        cloneFlags:
          CLONE_NEWNS |
          CLONE_NEWUTS |
          (spec.pidMode === "private" ? CLONE_NEWPID : 0) |
          (spec.ipcMode === "private" ? CLONE_NEWIPC : 0) |
          network.cloneFlags,
        cgroupFd,
        initFd,
        stdio: [devNull, devNull, devNull],
        steps: rootSteps({
          taskDir: dir.root,
          entries: root.entries,
          volumes: root.volumes,
          uid: user.uid,
          gid: user.gid,
          hostname: spec.name,
          privatePid: spec.pidMode === "private",
          privateIpc: spec.ipcMode === "private",
          noPivotRoot: plugin.noPivotRoot,
          joinPaths: joinPaths(cgroup, cgroupFd >= 0),
          joinGate: gate && { read: gate[0], write: gate[1] },
          startGate: startGate && { read: startGate[0], write: startGate[1] },
          early: network.early,
          overEtc: network.files,
        }),
        argv: ["bunker-init"],
        envp: [],
      };
      const spawning = startChild(plan, identityOf({ user, caps }));
      // While the spawn thread clones and the child mounts: the v1 cgroups, then the command.
      let exe: ReturnType<typeof lookupCommand>;
      try {
        if (startGate) passGate(startGate, () => createTaskDir(this.tasksDir, id, user.uid, user.gid));
        passGate(gate, () => this.cgroups.createRest(cgroupPlan));
        exe = lookupCommand(spec.command, lookup);
      } catch (err) {
        await spawning.then(
          (c) => {
            c.discard();
            return c.reaped;
          },
          () => undefined,
        );
        throw err;
      } finally {
        await spawning.catch(() => undefined);
        if (gate) closeFd(gate[0]);
        if (startGate) closeFd(startGate[0]);
        if (cgroupFd >= 0) closeFd(cgroupFd);
        if (groupFd !== null) closeFd(groupFd);
      }
      const child = await spawning;
      if (ahead) cgroup.watchPeaks();
      const slot: Slot = {
        id,
        spec,
        user,
        caps,
        execPath: exe.taskPath,
        child,
        cgroup,
        dir,
        preparedAt,
        release,
        lookup,
      };
      return this.preparedTask(slot);
    } catch (err) {
      for (const step of undo) await step();
      throw err;
    }
  }

  private preparedTask(slot: Slot): PreparedTask {
    let used = false;
    const claim = () => {
      if (used) throw new BunkerError("slot_used", `task slot ${slot.id} was already used`);
      used = true;
    };
    return {
      id: slot.id,
      pid: slot.child.pid,
      get alive() {
        return !used && slot.child.alive;
      },
      preparedAt: slot.preparedAt,
      launch: (opts: LaunchOptions = {}) => {
        claim();
        const startedAt = performance.now();
        const spec = opts.spec ?? slot.spec;
        const io = makeStdio(
          [opts.stdin ?? "null", opts.stdout ?? "pipe", opts.stderr ?? "pipe"],
          this.sharedFds().devNull,
        );
        try {
          slot.child.launch(requestOf(slot, spec), io.child);
        } finally {
          for (const fd of io.closeAfterStart) closeFd(fd);
        }
        opts.onStage?.("spawn", startedAt, performance.now());
        slot.cgroup.watchPeaks(); // done already for a slot prepared ahead
        const shared = this.sharedFds();
        return new ExecTask(
          slot,
          spec,
          this.opts.plugin,
          io,
          startedAt,
          opts.warm ?? false,
          this.track,
          shared,
        );
      },
      discard: async () => {
        claim();
        slot.child.discard();
        await teardown(slot);
      },
    };
  }

  /** The cold path: prepare a slot and launch it at once. */
  async start(
    spec: TaskSpec & { meta?: Record<string, string> },
    opts: LaunchOptions = {},
  ): Promise<TaskHandle> {
    const t0 = performance.now();
    const prepared = await this.#prepare(spec, false);
    // Only a cold start has this stage: a warm one found it done ahead of time.
    opts.onStage?.("prepare root", t0, performance.now());
    return prepared.launch(opts);
  }

  /**
   * After a crash: tasks died with the server (parent-death signal), so every
   * task cgroup and task directory left is a leftover. Returns what was removed.
   */
  async recover(): Promise<{ cgroups: string[]; taskDirs: string[] }> {
    const cgroups = this.cgroups.list().filter((name) => name.startsWith(`${this.instance}-`));
    for (const name of cgroups) await this.cgroups.open(name)?.remove();
    let taskDirs: string[] = [];
    try {
      taskDirs = readdirSync(this.tasksDir);
    } catch {
      taskDirs = [];
    }
    for (const name of taskDirs) removeTaskDir({ root: `${this.tasksDir}/${name}` });
    this.groups.reconcile();
    return { cgroups, taskDirs };
  }
}

export function createExecDriver(opts: ExecDriverOptions): ExecDriver {
  return new ExecDriver(opts);
}
