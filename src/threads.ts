/**
 * Jobs for a few long-lived threads (Bun workers) that do blocking work off
 * the JavaScript thread: the clone of a task (spawner.ts), the removal of
 * what an ended task leaves (src/driver/teardown.ts), and the embedded
 * database (src/store/pglite-thread.ts).
 *
 * Threads start on first use. Spawn threads live as long as the process: a
 * child's PR_SET_PDEATHSIG follows the thread that cloned it, so a spawn
 * thread must never exit. They are unref'd, so idle threads never hold the
 * process open; while a job is in flight a timer does, since a pending
 * promise alone does not.
 *
 * A worker script answers each `{ seq, job }` message with `{ seq, result }`
 * or `{ seq, error }` (the error's message, name and own primitive fields,
 * such as errno or a SQLSTATE code, which structured cloning would drop).
 * A thread that dies fails the jobs it held; the next job starts a new one.
 */

export interface JobError {
  op?: string;
  errno?: number;
  path?: string;
  message?: string;
  [field: string]: unknown;
}

type Reply<R> = { seq: number; result: R } | { seq: number; error: JobError };

interface Pending<R> {
  thread: Thread;
  resolve: (result: R) => void;
  reject: (err: JobError) => void;
}

interface Thread {
  worker: Worker;
  load: number;
}

export class Threads<J, R> {
  private threads: Thread[] = [];
  private readonly pending = new Map<number, Pending<R>>();
  private seq = 0;
  private holder: ReturnType<typeof setInterval> | undefined;

  /** `name` becomes the threads' name in /proc (15 characters at most), so `top -H` and perf tell them apart. */
  constructor(
    private readonly script: URL,
    private readonly count: number,
    private readonly name: string,
  ) {}

  private keepAlive(): void {
    const busy = this.pending.size > 0;
    if (busy && this.holder === undefined) this.holder = setInterval(() => {}, 1 << 30);
    if (!busy && this.holder !== undefined) {
      clearInterval(this.holder);
      this.holder = undefined;
    }
  }

  private start(): void {
    for (let i = this.threads.length; i < this.count; i++) {
      const thread: Thread = { worker: new Worker(this.script.href, { name: this.name }), load: 0 };
      thread.worker.unref();
      thread.worker.onmessage = (event: MessageEvent<Reply<R>>) => this.settle(event.data);
      // An uncaught error ends the worker; "close" follows either way.
      thread.worker.addEventListener("close", () => this.lost(thread));
      this.threads.push(thread);
    }
  }

  private settle(reply: Reply<R>): void {
    const p = this.pending.get(reply.seq);
    if (!p) return;
    this.pending.delete(reply.seq);
    p.thread.load -= 1;
    this.keepAlive();
    if ("error" in reply) p.reject(reply.error);
    else p.resolve(reply.result);
  }

  /** A thread that stopped: its jobs fail, and it is replaced on the next run. */
  private lost(thread: Thread): void {
    this.threads = this.threads.filter((t) => t !== thread);
    for (const [seq, p] of this.pending) {
      if (p.thread !== thread) continue;
      this.pending.delete(seq);
      p.reject({ message: "the worker thread stopped before it answered" });
    }
    this.keepAlive();
  }

  /** Runs a job on the least busy thread; `transfer` moves buffers instead of copying them. */
  run(job: J, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.threads.length < this.count) this.start();
    let best = this.threads[0] as Thread;
    for (const t of this.threads) if (t.load < best.load) best = t;
    const seq = ++this.seq;
    best.load += 1;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { thread: best, resolve, reject });
      this.keepAlive();
      best.worker.postMessage({ seq, job }, transfer);
    });
  }

  /** Stops every thread now; jobs still in flight fail. */
  terminate(): void {
    for (const t of this.threads) {
      t.worker.terminate();
      this.lost(t);
    }
  }
}

/**
 * The worker side: answers each job with the handler's result or its error's
 * fields. A synchronous handler is answered in the same turn; an async one
 * when it settles (jobs may then overlap, as the handler allows).
 */
export function serveJobs<J, R>(handle: (job: J) => R | Promise<R>): void {
  const self = globalThis as unknown as Worker;
  const fail = (seq: number, err: unknown) => self.postMessage({ seq, error: errorFields(err) });
  self.onmessage = (event: MessageEvent<{ seq: number; job: J }>) => {
    const { seq, job } = event.data;
    try {
      const result = handle(job);
      if (result instanceof Promise) {
        result.then(
          (value) => self.postMessage({ seq, result: value }),
          (err: unknown) => fail(seq, err),
        );
      } else self.postMessage({ seq, result });
    } catch (err) {
      fail(seq, err);
    }
  };
}

/** An error's message, name and own primitive fields; large or nested fields (a query's parameters) stay behind. */
function errorFields(err: unknown): JobError {
  if (!(err instanceof Error)) return { message: String(err) };
  const out: JobError = { message: err.message, name: err.name };
  for (const [key, value] of Object.entries(err)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
      out[key] = value;
  }
  return out;
}
