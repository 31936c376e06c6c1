/** One accepted async call waiting for a worker. */
export interface AsyncJob {
  id: string;
  function: string;
  body: Uint8Array;
  env: Record<string, string>;
  callbackUrl?: string;
  /** The function's retry.attempts: a durable queue re-runs a job whose worker died up to this often. */
  maxAttempts?: number;
}

export type JobHandler = (job: AsyncJob) => Promise<void>;

/**
 * The async queue: in memory here, Postgres-backed in src/store/durable-queue.ts
 * (push = insert with the invocation row, workers = leases, remove = cancel if still queued).
 * A durable push resolves once the job is committed, so a 202 means the job survives a crash.
 */
export interface AsyncQueue {
  push(job: AsyncJob): void | Promise<void>;
  /** Removes a job that no worker took yet; false when it is gone or running. */
  remove(id: string): boolean | Promise<boolean>;
  readonly size: number;
  /** Starts `concurrency` workers that hand each job to `handler` (which must not throw). */
  run(handler: JobHandler, concurrency: number): void;
  /** Stops taking jobs and waits for the running ones. */
  close(): Promise<void>;
}

export class MemoryQueue implements AsyncQueue {
  readonly #jobs: AsyncJob[] = [];
  #handler: JobHandler | undefined;
  #concurrency = 0;
  #busy = 0;
  #closed = false;
  readonly #running = new Set<Promise<void>>();

  get size(): number {
    return this.#jobs.length;
  }

  push(job: AsyncJob): void {
    this.#jobs.push(job);
    this.#pump();
  }

  remove(id: string): boolean {
    const i = this.#jobs.findIndex((j) => j.id === id);
    if (i < 0) return false;
    this.#jobs.splice(i, 1);
    return true;
  }

  run(handler: JobHandler, concurrency: number): void {
    this.#handler = handler;
    this.#concurrency = Math.max(1, concurrency);
    this.#pump();
  }

  #pump(): void {
    const handler = this.#handler;
    if (!handler) return;
    while (!this.#closed && this.#busy < this.#concurrency && this.#jobs.length > 0) {
      const job = this.#jobs.shift();
      if (!job) break;
      this.#busy++;
      const p: Promise<void> = handler(job)
        .catch(() => {})
        .finally(() => {
          this.#busy--;
          this.#running.delete(p);
          this.#pump();
        });
      this.#running.add(p);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#running]);
  }
}
