/**
 * The exec driver: TaskSpec + plugin config -> plan -> isolated child ->
 * Outcome, with Nomad's semantics (see ../shared/NOMAD-REFERENCE.md).
 *
 * start() validates and prepares everything on the parent side (user, caps,
 * command lookup, task dir, cgroup, argv, env), then hands one SpawnPlan to
 * src/sys. wait() resolves only after the task's cgroup and task directory
 * are gone, so an Outcome always means "nothing left behind".
 */
import { readdirSync, readFileSync } from "node:fs";
import { cgroupManager, joinPaths } from "../cgroup/index.ts";
import type { CgroupLimits, CgroupManager, CgroupStats, TaskCgroup } from "../cgroup/types.ts";
import { BunkerError } from "../errors.ts";
import { type Child, type ChildExit, decodeWaitStatus, startChild } from "../sys/child.ts";
import { EACCES, ENOENT, ENOEXEC } from "../sys/errno.ts";
import { closeFd, INIT_PATH, killPid, openFd, pipe } from "../sys/native.ts";
import type { SpawnPlan } from "../sys/plan.ts";
import {
  BK_STEP_EXEC,
  CLONE_NEWIPC,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUTS,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
} from "../sys/protocol.ts";
import type { Driver, Fingerprint, StartOptions, StdioSpec, TaskHandle, TaskStdin } from "./api.ts";
import { capNumber, capSets, computeCaps, parseCapList } from "./caps.ts";
import type { BunkerPluginConfig } from "./config.ts";
import { fingerprint } from "./fingerprint.ts";
import { interpolateArgs } from "./interpolate.ts";
import { lookupCommand } from "./lookup.ts";
import { type RootEntry, resolveChrootEnv, rootSteps } from "./root.ts";
import { parseSignal } from "./signals.ts";
import { createTaskDir, ensureTasksMount, removeTaskDir, type TaskDir } from "./taskdir.ts";
import type { Outcome, TaskSpec, TerminationReason, Usage } from "./types.ts";
import { type ResolvedUser, resolveUser } from "./users.ts";

const SIGKILL = 9;
const MB = 1024 * 1024;

export interface ExecDriverOptions {
  plugin: BunkerPluginConfig;
  /** Bunker's data directory; task directories live in <dataDir>/tasks. */
  dataDir: string;
  cgroups?: CgroupManager;
  /** Node attributes for `${attr.*}` interpolation. */
  attributes?: Record<string, string>;
}

/** A task id: sortable by start time, safe as a hostname, a directory and a cgroup name. */
export function newTaskId(): string {
  const rand = crypto.getRandomValues(new Uint8Array(6));
  return `${Date.now().toString(36)}-${Buffer.from(rand).toString("hex")}`;
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

/**
 * Capability sets: root keeps the computed set through exec via the bounding
 * set; a non-root user gets, as ambient, only what was explicitly added with
 * cap_add — Nomad hands the whole default set to every non-root task, which
 * would give `nobody` CAP_DAC_OVERRIDE over the bound host /etc.
 */
function capArgs(spec: TaskSpec, plugin: BunkerPluginConfig, uid: number): string {
  const { mask } = computeCaps({ allowCaps: plugin.allowCaps, capAdd: spec.capAdd, capDrop: spec.capDrop });
  let added = 0n;
  for (const name of parseCapList("cap_add", spec.capAdd)) added |= 1n << BigInt(capNumber(name));
  const sets = uid === 0 ? capSets(mask, true) : { ...capSets(mask & added, false), bounding: mask };
  const hex = (v: bigint) => v.toString(16);
  return [sets.effective, sets.permitted, sets.inheritable, sets.bounding, sets.ambient].map(hex).join(":");
}

function initArgv(
  spec: TaskSpec,
  user: ResolvedUser,
  caps: string,
  execPath: string,
  args: string[],
): string[] {
  const argv = ["bunker-init", "-u", String(user.uid), "-g", String(user.gid)];
  if (user.groups.length > 0) argv.push("-G", user.groups.join(","));
  argv.push("-c", caps, "-n", "-d", spec.workDir ?? "/");
  return [...argv, "--", execPath, spec.command, ...args];
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

function makeStdio(specs: [StdioSpec, StdioSpec, StdioSpec]): Stdio {
  const io: Stdio = { child: [-1, -1, -1], closeAfterStart: [], stdin: null, stdout: null, stderr: null };
  specs.forEach((spec, n) => {
    if (typeof spec === "number") io.child[n] = spec;
    else if (spec === "inherit") io.child[n] = n;
    else if (spec === "null") {
      const fd = openFd("/dev/null", n === 0 ? 0 : 1);
      io.child[n] = fd;
      io.closeAfterStart.push(fd);
    } else {
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

function usageOf(exit: ChildExit, stats: CgroupStats | null): Usage {
  return {
    cpuUserMs: exit.userUs / 1000,
    cpuSystemMs: exit.systemUs / 1000,
    memoryPeakBytes: stats?.memory.peakBytes ?? 0,
    pidsPeak: stats?.pids.peak ?? 0,
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
  const status = exit.mainStatus ?? exit.initStatus;
  const { code, signal } = decodeWaitStatus(status);
  const exitCode = signal === null ? (code ?? 0) : 128 + signal;
  let reason: TerminationReason = signal === null ? "exited" : "signaled";
  if (oom) reason = "oom";
  else if (end.stopped) reason = "stopped";
  if (end.timedOut) return { reason: "timeout", exitCode: 124, signal };
  return { reason, exitCode, signal };
}

class ExecTask implements TaskHandle {
  readonly id: string;
  readonly pid: number;
  readonly stdin: TaskStdin | null;
  readonly stdout: ReadableStream<Uint8Array> | null;
  readonly stderr: ReadableStream<Uint8Array> | null;
  private readonly end: EndState = { timedOut: false, stopped: false };
  private readonly done: Promise<Outcome>;
  private finished = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly spec: TaskSpec,
    private readonly plugin: BunkerPluginConfig,
    private readonly child: Child,
    private readonly cgroup: TaskCgroup,
    private readonly dir: TaskDir,
    io: Stdio,
    startedAt: number,
  ) {
    this.id = cgroup.name;
    this.pid = child.pid;
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
  }

  private async finish(startedAt: number): Promise<Outcome> {
    const exit = await this.child.exited;
    const wallMs = performance.now() - startedAt;
    clearTimeout(this.timer);
    this.finished = true;
    // A caller that never ended stdin must not leak the pipe.
    await this.stdin?.end().catch(() => undefined);
    let stats: CgroupStats | null = null;
    let oom = false;
    try {
      stats = this.cgroup.stats();
      oom = this.cgroup.oomKilled();
    } finally {
      // In host PID mode the task's other processes outlive init: the cgroup goes, with them.
      await this.cgroup.remove();
      removeTaskDir(this.dir);
    }
    return { ...outcomeOf(exit, this.end, oom), wallMs, usage: usageOf(exit, stats) };
  }

  wait(): Promise<Outcome> {
    return this.done;
  }

  signal(signal: string, scope: "main" | "group" | "all" = "main"): void {
    const num = parseSignal(signal, "/signal");
    if (this.finished) return;
    if (scope === "all") {
      for (const pid of this.cgroup.pids()) if (pid !== this.pid) killQuietly(pid, num);
      return;
    }
    const main = mainPidOf(this.pid);
    if (main === null) return;
    killQuietly(scope === "group" ? -main : main, num);
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
    this.child.signal(SIGKILL);
    await this.cgroup.kill();
  }
}

function killQuietly(pid: number, signal: number): void {
  try {
    killPid(pid, signal);
  } catch {
    // Gone between listing and signalling: nothing to do.
  }
}

export class ExecDriver implements Driver {
  private readonly entries: RootEntry[];
  private readonly tasksDir: string;
  private initFd: number | null = null;
  private cachedFingerprint: { at: number; value: Fingerprint } | null = null;

  constructor(private readonly opts: ExecDriverOptions) {
    this.entries = resolveChrootEnv(opts.plugin.chrootEnv);
    this.tasksDir = `${opts.dataDir}/tasks`;
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

  /** First start: bunker-init's fd and the tasks tmpfs, once. */
  private init(): number {
    if (this.initFd === null) {
      ensureTasksMount(this.tasksDir);
      this.initFd = openFd(INIT_PATH, O_PATH);
    }
    return this.initFd;
  }

  async start(
    spec: TaskSpec & { meta?: Record<string, string> },
    opts: StartOptions = {},
  ): Promise<TaskHandle> {
    const fp = this.fingerprint();
    if (fp.health !== "healthy") throw new BunkerError("driver_unhealthy", fp.description);
    const startedAt = performance.now();
    const { plugin } = this.opts;
    const id = newTaskId();
    const etc = Object.entries(plugin.chrootEnv).find(([, task]) => task === "/etc")?.[0];
    const user = resolveUser(spec.user, {
      root: etc ? etc.slice(0, -"/etc".length) || "/" : "/",
      allowRoot: plugin.allowRoot,
      deniedHostUids: plugin.deniedHostUids,
      deniedHostGids: plugin.deniedHostGids,
    });
    const caps = capArgs(spec, plugin, user.uid);
    const env = taskEnv(spec, user, id);
    const args = interpolateArgs(spec.args, env, spec.meta ?? {}, this.opts.attributes ?? {});

    const initFd = this.init();
    const dir = createTaskDir(this.tasksDir, id, user.uid, user.gid);
    const cleanup: (() => unknown)[] = [() => removeTaskDir(dir)];
    try {
      const exe = lookupCommand(spec.command, { taskDir: dir.root, chrootEnv: plugin.chrootEnv });
      const cgroup = this.cgroups.create(id, limitsOf(spec));
      cleanup.unshift(() => cgroup.remove());
      const cgroupFd = cgroup.unifiedDir === null ? -1 : openFd(cgroup.unifiedDir, O_RDONLY | O_DIRECTORY);
      const io = makeStdio([opts.stdin ?? "null", opts.stdout ?? "pipe", opts.stderr ?? "pipe"]);
      const plan: SpawnPlan = {
        cloneFlags:
          CLONE_NEWNS |
          CLONE_NEWUTS |
          (spec.pidMode === "private" ? CLONE_NEWPID : 0) |
          (spec.ipcMode === "private" ? CLONE_NEWIPC : 0),
        cgroupFd,
        initFd,
        stdio: io.child,
        steps: rootSteps({
          taskDir: dir.root,
          entries: this.entries,
          uid: user.uid,
          gid: user.gid,
          hostname: spec.name,
          privatePid: spec.pidMode === "private",
          privateIpc: spec.ipcMode === "private",
          noPivotRoot: plugin.noPivotRoot,
          joinPaths: joinPaths(cgroup, cgroupFd >= 0),
        }),
        argv: initArgv(spec, user, caps, exe.taskPath, args),
        envp: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      };
      let child: Child;
      try {
        child = startChild(plan);
      } finally {
        if (cgroupFd >= 0) closeFd(cgroupFd);
        for (const fd of io.closeAfterStart) closeFd(fd);
      }
      opts.onStage?.("spawn", startedAt, performance.now());
      return new ExecTask(spec, plugin, child, cgroup, dir, io, startedAt);
    } catch (err) {
      for (const undo of cleanup) await undo();
      throw err;
    }
  }

  /**
   * After a crash: tasks died with the server (parent-death signal), so every
   * task cgroup and task directory left is a leftover. Returns what was removed.
   */
  async recover(): Promise<{ cgroups: string[]; taskDirs: string[] }> {
    const cgroups = await this.cgroups.reconcile(new Set());
    let taskDirs: string[] = [];
    try {
      taskDirs = readdirSync(this.tasksDir);
    } catch {
      taskDirs = [];
    }
    for (const name of taskDirs) removeTaskDir({ root: `${this.tasksDir}/${name}` });
    return { cgroups, taskDirs };
  }
}

export function createExecDriver(opts: ExecDriverOptions): ExecDriver {
  return new ExecDriver(opts);
}
