/**
 * Jobs for a few long-lived threads (Bun workers) that do blocking work off
 * the JavaScript thread: the clone of a task (spawner.ts) and the removal of
 * what an ended task leaves (src/driver/teardown.ts).
 *
 * Threads start on first use and live as long as the process: a child's
 * PR_SET_PDEATHSIG follows the thread that cloned it, so a spawn thread must
 * never exit. They are unref'd, so idle threads never hold the process open;
 * while a job is in flight a timer does, since a pending promise alone does not.
 *
 * A worker script answers each `{ seq, job }` message with `{ seq, result }`
 * or `{ seq, error }` (an error's own fields, as structured cloning keeps them).
 */

export interface JobError {
  op?: string;
  errno?: number;
  path?: string;
  message?: string;
}

type Reply<R> = { seq: number; result: R } | { seq: number; error: JobError };

interface Pending<R> {
  resolve: (result: R) => void;
  reject: (err: JobError) => void;
}

export class Threads<J, R> {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending<R>>();
  private readonly load: number[] = [];
  private seq = 0;
  private inFlight = 0;
  private holder: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly script: URL,
    private readonly count: number,
  ) {}

  private keepAlive(delta: number): void {
    this.inFlight += delta;
    if (this.inFlight > 0 && this.holder === undefined) this.holder = setInterval(() => {}, 1 << 30);
    if (this.inFlight === 0 && this.holder !== undefined) {
      clearInterval(this.holder);
      this.holder = undefined;
    }
  }

  private start(): void {
    for (let i = 0; i < this.count; i++) {
      const w = new Worker(this.script.href);
      w.unref();
      w.onmessage = (event: MessageEvent<Reply<R>>) => this.settle(i, event.data);
      this.workers.push(w);
      this.load.push(0);
    }
  }

  private settle(worker: number, reply: Reply<R>): void {
    this.load[worker] = (this.load[worker] ?? 1) - 1;
    this.keepAlive(-1);
    const p = this.pending.get(reply.seq);
    if (!p) return;
    this.pending.delete(reply.seq);
    if ("error" in reply) p.reject(reply.error);
    else p.resolve(reply.result);
  }

  /** Runs a job on the least busy thread; `transfer` moves buffers instead of copying them. */
  run(job: J, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.workers.length === 0) this.start();
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    const seq = ++this.seq;
    this.load[best] = (this.load[best] ?? 0) + 1;
    this.keepAlive(1);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.workers[best]!.postMessage({ seq, job }, transfer);
    });
  }
}

/** The worker side: answers each job with the handler's result or its error's fields. */
export function serveJobs<J, R>(handle: (job: J) => R): void {
  const self = globalThis as unknown as Worker;
  self.onmessage = (event: MessageEvent<{ seq: number; job: J }>) => {
    const { seq, job } = event.data;
    try {
      self.postMessage({ seq, result: handle(job) });
    } catch (err) {
      const e = err as JobError;
      self.postMessage({ seq, error: { op: e.op, errno: e.errno, path: e.path, message: e.message } });
    }
  };
}
