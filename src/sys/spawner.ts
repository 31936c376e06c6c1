/**
 * Clones children on spawn threads (src/sys/spawn-worker.ts) instead of the
 * JavaScript thread. bk_spawn blocks its caller until the child has set up its
 * root and exec'd bunker-init (CLONE_VFORK); on a worker that is one core
 * busy, not the event loop stalled.
 *
 * Threads are started once and kept for the life of the process (unref'd so
 * they never hold it open): a child's PR_SET_PDEATHSIG fires when the thread
 * that cloned it exits, and a task must die with its server, not with a thread.
 */
import { SysError } from "./error.ts";

const THREADS = 2;

interface Pending {
  resolve: (r: { pid: number; pidfd: number }) => void;
  reject: (err: Error) => void;
}

class Spawner {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly load: number[] = [];
  private seq = 0;
  private inFlight = 0;
  private holder: ReturnType<typeof setInterval> | undefined;

  /**
   * The threads are unref'd so an idle spawner never holds the process open;
   * while a spawn is in flight a timer does, since a promise alone does not.
   */
  private keepAlive(delta: number): void {
    this.inFlight += delta;
    if (this.inFlight > 0 && this.holder === undefined) this.holder = setInterval(() => {}, 1 << 30);
    if (this.inFlight === 0 && this.holder !== undefined) {
      clearInterval(this.holder);
      this.holder = undefined;
    }
  }

  private start(): void {
    for (let i = 0; i < THREADS; i++) {
      const w = new Worker(new URL("./spawn-worker.ts", import.meta.url).href);
      w.unref();
      w.onmessage = (event: MessageEvent) => this.settle(i, event.data);
      this.workers.push(w);
      this.load.push(0);
    }
  }

  private settle(
    worker: number,
    reply: { seq: number; pid?: number; pidfd?: number; error?: Record<string, unknown> },
  ) {
    this.load[worker] = (this.load[worker] ?? 1) - 1;
    this.keepAlive(-1);
    const p = this.pending.get(reply.seq);
    if (!p) return;
    this.pending.delete(reply.seq);
    if (reply.error) {
      const e = reply.error as { op?: string; errno?: number; path?: string; message?: string };
      p.reject(
        e.errno !== undefined
          ? new SysError(e.op ?? "clone3", e.errno, e.path)
          : new Error(String(e.message)),
      );
    } else p.resolve({ pid: reply.pid!, pidfd: reply.pidfd! });
  }

  /** Clones a child from an encoded plan on the least busy spawn thread. */
  spawn(plan: Uint8Array): Promise<{ pid: number; pidfd: number }> {
    if (this.workers.length === 0) this.start();
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    const seq = ++this.seq;
    this.load[best] = (this.load[best] ?? 0) + 1;
    this.keepAlive(1);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      // Moved, not copied: the plan is built for this one spawn.
      this.workers[best]!.postMessage({ seq, plan }, [plan.buffer as ArrayBuffer]);
    });
  }
}

let spawner: Spawner | undefined;

export function spawnOnThread(plan: Uint8Array): Promise<{ pid: number; pidfd: number }> {
  spawner ??= new Spawner();
  return spawner.spawn(plan);
}
