/**
 * A child started from a SpawnPlan and the task's identity: bunker-init in
 * the task's namespaces, root and cgroup, and under it the task's process,
 * already in the task's credentials, waiting for its exec request on the
 * control socket (a "zygote"). launch() sends the request; the task runs;
 * records come back.
 *
 * The socket is read as a Bun stream (epoll, never blocking the event loop).
 * `exited` resolves as soon as the EXITED record arrives — the caller learns
 * the result without waiting for namespace teardown — and `reaped` once the
 * pid is reaped, by its own number (ARCHITECTURE.md rule 2: children of
 * Bun.spawn are never taken).
 */

import { readSync } from "node:fs";
import { ECONNRESET, EPIPE, ESRCH, errnoName, errnoText } from "./errno.ts";
import { SysError } from "./error.ts";
import { closeFd, pidfdSignal, sendMessage, socketPair, waitPid } from "./native.ts";
import { encodePlan, type SpawnPlan } from "./plan.ts";
import {
  BK_REC_EXITED,
  BK_REC_MAXRSS,
  BK_REC_SETUP_FAILED,
  BK_REC_STIME,
  BK_REC_UTIME,
  BK_STEP_EXEC,
  STEP_NAMES,
} from "./protocol.ts";
import { type ExecRequest, encodeExec, encodeIdentity, type TaskIdentity } from "./request.ts";
import { spawnOnThread } from "./spawner.ts";

export interface SetupFailure {
  /** Index into plan.steps, or a BK_STEP_* number. */
  step: number;
  errno: number;
  /** "pivot_root /x: EINVAL (invalid argument)". */
  message: string;
}

export interface ChildExit {
  /** Wait status of the task's main process; null when it never ran or init was killed. */
  mainStatus: number | null;
  /** Wait status of bunker-init, known only when the task ended without an EXITED record. */
  initStatus: number | null;
  setupFailure: SetupFailure | null;
  /** CPU and largest RSS of the task's processes (init reaps every descendant). */
  userUs: number;
  systemUs: number;
  maxRssKb: number;
}

export interface Child {
  readonly pid: number;
  /** The pidfd, for setns into this child's namespaces (alloc exec); -1 once reaped. */
  readonly nsFd: number;
  /** Sends the exec request with the task's stdio; the caller closes its copies of the fds afterwards. */
  launch(request: ExecRequest, stdio: readonly [number, number, number]): void;
  readonly exited: Promise<ChildExit>;
  /** Resolves once the pid is reaped and the pidfd closed. */
  readonly reaped: Promise<void>;
  /** Signals bunker-init through its pidfd; it forwards to the task. Harmless after exit. */
  signal(signal: number): void;
  /** Closes the control socket: an idle zygote exits. */
  discard(): void;
  /** False once the child is gone (it ended, or died while waiting as a ready slot). */
  readonly alive: boolean;
}

export function decodeWaitStatus(status: number): { code: number | null; signal: number | null } {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}

function describeFailure(plan: SpawnPlan, step: number, errno: number, execPath: string): SetupFailure {
  const planned = plan.steps[step];
  const where = planned
    ? `${planned.what}${planned.path ? ` ${planned.path}` : ""}`
    : step === BK_STEP_EXEC
      ? `exec ${execPath}`
      : (STEP_NAMES[step] ?? `step ${step}`);
  return { step, errno, message: `${where}: ${errnoName(errno)} (${errnoText(errno)})` };
}

/** EOF on the socket can come a moment before the exit is reapable. */
async function reap(pid: number) {
  for (let delay = 0; ; delay = Math.min(delay + 1, 10)) {
    const r = waitPid(pid);
    if (r) return r;
    await Bun.sleep(delay);
  }
}

class ZygoteChild implements Child {
  readonly exited: Promise<ChildExit>;
  readonly reaped: Promise<void>;
  private pidfdOpen = true;
  private socketOpen = true;
  /** EOF seen on the control socket. */
  private ended = false;
  private execPath = "";
  private resolveExit!: (exit: ChildExit) => void;
  private readonly exit: ChildExit = {
    mainStatus: null,
    initStatus: null,
    setupFailure: null,
    userUs: 0,
    systemUs: 0,
    maxRssKb: 0,
  };

  constructor(
    readonly pid: number,
    private readonly pidfd: number,
    private readonly socket: number,
    private readonly plan: SpawnPlan,
  ) {
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
    this.reaped = this.run();
  }

  get nsFd(): number {
    return this.pidfdOpen ? this.pidfd : -1;
  }

  launch(request: ExecRequest, stdio: readonly [number, number, number]): void {
    this.execPath = request.path;
    try {
      sendMessage(this.socket, encodeExec(request), stdio);
    } catch (err) {
      // The child is already gone (a setup step failed, or it was killed): the
      // records and the reap say why, and `exited` carries it to the caller.
      if (!(err instanceof SysError && (err.errno === EPIPE || err.errno === ECONNRESET))) throw err;
    }
  }

  /** False once the child closed its end: a ready slot that died while it waited. */
  get alive(): boolean {
    return this.socketOpen && !this.ended;
  }

  private onRecord(kind: number, step: number, value: number): void {
    const e = this.exit;
    if (kind === BK_REC_MAXRSS) e.maxRssKb = value;
    else if (kind === BK_REC_UTIME) e.userUs = value;
    else if (kind === BK_REC_STIME) e.systemUs = value;
    else if (kind === BK_REC_SETUP_FAILED && !e.setupFailure) {
      e.setupFailure = describeFailure(this.plan, step, value, this.execPath);
    } else if (kind === BK_REC_EXITED) {
      e.mainStatus = value;
      this.resolveExit({ ...e });
    }
  }

  /**
   * Reads records until EOF. A reset (the child died with a message of ours
   * still unread in its queue) makes Bun's stream fail before it hands over
   * what was queued for us, so the rest is read directly: after the reset the
   * peer is gone, the records come, then EOF.
   */
  private async readRecords(): Promise<void> {
    try {
      await this.readUntilEnd();
    } catch (err) {
      if ((err as { code?: string }).code !== "ECONNRESET") throw err;
      this.drainAfterReset();
    } finally {
      this.ended = true;
    }
  }

  private async readUntilEnd(): Promise<void> {
    let pending = new Uint8Array(0);
    for await (const chunk of Bun.file(this.socket).stream()) {
      const bytes = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      pending = bytes.slice(this.onRecords(bytes));
    }
  }

  private drainAfterReset(): void {
    const buf = Buffer.alloc(4096);
    for (;;) {
      let n: number;
      try {
        n = readSync(this.socket, buf, 0, buf.length, null);
      } catch {
        return;
      }
      if (n <= 0) return;
      this.onRecords(buf.subarray(0, n));
    }
  }

  /** Handles the whole 16-byte records in `bytes`; returns how many bytes they took. */
  private onRecords(bytes: Uint8Array): number {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    for (; at + 16 <= bytes.byteLength; at += 16) {
      this.onRecord(
        view.getInt32(at, true),
        view.getInt32(at + 4, true),
        Number(view.getBigInt64(at + 8, true)),
      );
    }
    return at;
  }

  private async run(): Promise<void> {
    try {
      await this.readRecords();
    } catch (err) {
      // Never leave exited unresolved: the reap below still decides the outcome.
      console.error(`bunker: reading task records of pid ${this.pid}: ${String(err)}`);
    } finally {
      this.closeSocket();
    }
    const r = await reap(this.pid);
    this.pidfdOpen = false;
    closeFd(this.pidfd);
    // No EXITED record: setup failed, or init was killed (timeout, stop).
    this.exit.initStatus = r.status;
    if (this.exit.mainStatus === null) {
      this.exit.userUs ||= r.userUs;
      this.exit.systemUs ||= r.systemUs;
    }
    this.resolveExit({ ...this.exit });
  }

  private closeSocket(): void {
    if (!this.socketOpen) return;
    this.socketOpen = false;
    closeFd(this.socket);
  }

  signal(signal: number): void {
    if (!this.pidfdOpen) return;
    try {
      pidfdSignal(this.pidfd, signal);
    } catch (err) {
      // Exited but not yet reaped: nothing left to signal.
      if (!(err instanceof SysError && err.errno === ESRCH)) throw err;
    }
  }

  discard(): void {
    // SIGKILL, not a close of our socket end: the reader loop owns that fd.
    this.signal(9);
  }
}

/**
 * Starts a child from a plan on a spawn thread (see spawner.ts). The identity
 * is queued on the socket before the clone, so bunker-init forks the task's
 * process as soon as it runs. The fds the plan names must stay open until
 * this resolves; the caller closes them after.
 */
export async function startChild(plan: SpawnPlan, identity: TaskIdentity): Promise<Child> {
  const [server, child] = socketPair();
  let spawned: { pid: number; pidfd: number };
  try {
    sendMessage(server, encodeIdentity(identity));
    spawned = await spawnOnThread(encodePlan(plan, child));
  } catch (err) {
    closeFd(server);
    throw err;
  } finally {
    closeFd(child);
  }
  return new ZygoteChild(spawned.pid, spawned.pidfd, server, plan);
}
