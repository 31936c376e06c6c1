/**
 * A child started from a SpawnPlan, and its end. The status pipe is read as a
 * Bun stream (epoll, never blocking the event loop); its EOF means
 * bunker-init has exited, and only then is the pid reaped, by its own number
 * (ARCHITECTURE.md rule 2: children of Bun.spawn are never taken).
 */
import { ESRCH, errnoName, errnoText } from "./errno.ts";
import { SysError } from "./error.ts";
import { closeFd, pidfdSignal, pipe, spawnPlan, waitPid } from "./native.ts";
import { encodePlan, type SpawnPlan } from "./plan.ts";
import { BK_REC_EXITED, BK_REC_MAXRSS, BK_REC_SETUP_FAILED, STEP_NAMES } from "./protocol.ts";

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
  /** Wait status of bunker-init itself. */
  initStatus: number;
  setupFailure: SetupFailure | null;
  /** CPU of the whole tree (init reaps every descendant), and the largest RSS. */
  userUs: number;
  systemUs: number;
  maxRssKb: number;
}

export interface Child {
  readonly pid: number;
  readonly pidfd: number;
  readonly exited: Promise<ChildExit>;
  /** Signals bunker-init through its pidfd; it forwards to the task. Harmless after exit. */
  signal(signal: number): void;
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
    : step === 1013
      ? `exec ${execPath}`
      : (STEP_NAMES[step] ?? `step ${step}`);
  return { step, errno, message: `${where}: ${errnoName(errno)} (${errnoText(errno)})` };
}

async function readRecords(fd: number): Promise<Int32Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of Bun.file(fd).stream()) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  return new Int32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 12) * 3);
}

/** EOF on the pipe can come a moment before the exit is reapable. */
async function reap(pid: number) {
  for (let delay = 0; ; delay = Math.min(delay + 1, 10)) {
    const r = waitPid(pid);
    if (r) return r;
    await Bun.sleep(delay);
  }
}

interface Liveness {
  pidfdOpen: boolean;
}

async function collect(
  plan: SpawnPlan,
  pid: number,
  pidfd: number,
  statusFd: number,
  live: Liveness,
): Promise<ChildExit> {
  let records: Int32Array;
  try {
    records = await readRecords(statusFd);
  } finally {
    closeFd(statusFd);
  }
  const r = await reap(pid);
  live.pidfdOpen = false;
  closeFd(pidfd);
  let mainStatus: number | null = null;
  let setupFailure: SetupFailure | null = null;
  // bunker-init's own maxrss includes the server's memory it shared before exec: use the task's.
  let maxRssKb = 0;
  const execPath = plan.argv[plan.argv.indexOf("--") + 1] ?? "";
  for (let i = 0; i + 2 < records.length; i += 3) {
    const [kind, step, value] = [records[i]!, records[i + 1]!, records[i + 2]!];
    if (kind === BK_REC_EXITED) mainStatus = value;
    if (kind === BK_REC_MAXRSS) maxRssKb = value;
    if (kind === BK_REC_SETUP_FAILED && !setupFailure)
      setupFailure = describeFailure(plan, step, value, execPath);
  }
  return {
    mainStatus,
    initStatus: r.status,
    setupFailure,
    userUs: r.userUs,
    systemUs: r.systemUs,
    maxRssKb,
  };
}

export function startChild(plan: SpawnPlan): Child {
  const [statusRead, statusWrite] = pipe();
  let spawned: { pid: number; pidfd: number };
  try {
    spawned = spawnPlan(encodePlan(plan, statusWrite));
  } catch (err) {
    closeFd(statusRead);
    throw err;
  } finally {
    closeFd(statusWrite);
  }
  const { pid, pidfd } = spawned;
  const live: Liveness = { pidfdOpen: true };
  const exited = collect(plan, pid, pidfd, statusRead, live);
  return {
    pid,
    pidfd,
    exited,
    signal(signal: number) {
      if (!live.pidfdOpen) return;
      try {
        pidfdSignal(pidfd, signal);
      } catch (err) {
        // Exited but not yet reaped: nothing left to signal.
        if (!(err instanceof SysError && err.errno === ESRCH)) throw err;
      }
    },
  };
}
