/**
 * The invoke layer's AsyncQueue on the store's durable queue (queue.ts).
 * push commits the invocation row and its job in one transaction before the
 * caller answers 202; workers claim due jobs under a lease, keep it alive with
 * a heartbeat while the task runs, and settle the job only while the lease is
 * still theirs. A server killed mid-run simply stops heartbeating: the lease
 * expires and any server on the same database claims the job again, up to the
 * function's retry.attempts.
 */
import { and, eq } from "drizzle-orm";
import { invocations, jobs } from "../../db/schema.ts";
import { errorMessage } from "../errors.ts";
import type { AsyncJob, AsyncQueue, JobHandler } from "../invoke/queue.ts";
import type { Db } from "./db.ts";
import { storeError } from "./errors.ts";
import {
  type AttemptRecord,
  type ClaimedJob,
  claim,
  complete,
  enqueue,
  fail,
  heartbeat,
  type JobLease,
} from "./queue.ts";

export interface DurableQueueOptions {
  db: Db;
  /** This server's stable name: lease owner and invocation node. */
  owner: string;
  /** How long a claim is good for without a heartbeat (default 30 s). */
  leaseMs?: number;
  /** Heartbeat period (default leaseMs / 3). */
  heartbeatMs?: number;
  /** Idle poll period for jobs queued by other servers or due for retry (default 250 ms). */
  pollMs?: number;
  /** The final record of a finished attempt (the StoreSink holds it). */
  takeFinal: (id: string) => AttemptRecord | undefined;
  onError?: (err: unknown) => void;
}

/** What of an async call is kept with its row, so any server can run it. */
interface StoredRequest {
  env: Record<string, string>;
  callbackUrl?: string;
}

export class DurableQueue implements AsyncQueue {
  readonly #o: Required<Omit<DurableQueueOptions, "takeFinal" | "onError">> & DurableQueueOptions;
  readonly #leases = new Map<string, JobLease>();
  readonly #running = new Set<Promise<void>>();
  #handler: JobHandler | undefined;
  #concurrency = 1;
  #closed = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #queued = 0;

  constructor(options: DurableQueueOptions) {
    const leaseMs = options.leaseMs ?? 30_000;
    this.#o = {
      ...options,
      leaseMs,
      heartbeatMs: options.heartbeatMs ?? Math.max(50, Math.floor(leaseMs / 3)),
      pollMs: options.pollMs ?? 250,
    };
  }

  /** Jobs this server pushed and has not seen claimed yet (a gauge, not the global backlog). */
  get size(): number {
    return this.#queued;
  }

  /** Jobs this process holds a lease on right now. */
  get active(): number {
    return this.#leases.size;
  }

  leased(id: string): boolean {
    return this.#leases.has(id);
  }

  async push(job: AsyncJob): Promise<void> {
    const request: StoredRequest = { env: job.env };
    if (job.callbackUrl !== undefined) request.callbackUrl = job.callbackUrl;
    await enqueue(this.#o.db, {
      invocation: {
        id: job.id,
        function: job.function,
        node: this.#o.owner,
        queuedAt: new Date(),
        attempt: 0,
        request,
      },
      payload: job.body,
      maxAttempts: Math.max(1, job.maxAttempts ?? 1),
    });
    this.#queued += 1;
    this.#wake?.();
  }

  /** Cancels a job no worker holds: it becomes dead, its invocation cancelled by the caller's record. */
  async remove(id: string): Promise<boolean> {
    try {
      const rows = await this.#o.db
        .update(jobs)
        .set({ state: "dead", lastError: "cancelled while queued" })
        .where(and(eq(jobs.id, id), eq(jobs.state, "queued")))
        .returning({ id: jobs.id });
      return rows.length > 0;
    } catch (err) {
      throw storeError(`cannot cancel job ${id}`, err);
    }
  }

  run(handler: JobHandler, concurrency: number): void {
    this.#handler = handler;
    this.#concurrency = Math.max(1, concurrency);
    this.#loop ??= this.#poll();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#loop;
    await Promise.all([...this.#running]);
  }

  async #poll(): Promise<void> {
    let backoff = this.#o.pollMs;
    while (!this.#closed) {
      const free = this.#concurrency - this.#leases.size;
      let claimed: ClaimedJob[] = [];
      if (free > 0) {
        try {
          claimed = await claim(this.#o.db, this.#o.owner, this.#o.leaseMs, free);
          backoff = this.#o.pollMs;
        } catch (err) {
          this.#report(err);
          backoff = Math.min(5_000, backoff * 2);
        }
      }
      for (const c of claimed) this.#start(c);
      if (claimed.length === 0 || free - claimed.length <= 0) await this.#sleep(backoff);
    }
  }

  /** Sleeps until `ms` pass, a push or a finished job wakes the loop, or close(). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  #start(c: ClaimedJob): void {
    this.#leases.set(c.lease.id, c.lease);
    this.#queued = Math.max(0, this.#queued - 1);
    const p = this.#work(c)
      .catch((err: unknown) => this.#report(err))
      .finally(() => {
        this.#leases.delete(c.lease.id);
        this.#running.delete(p);
        this.#wake?.();
      });
    this.#running.add(p);
  }

  async #work({ job, lease }: ClaimedJob): Promise<void> {
    const handler = this.#handler;
    if (!handler) return;
    const request = await this.#request(job.id);
    const asyncJob: AsyncJob = {
      id: job.id,
      function: job.function,
      body: job.payload ?? new Uint8Array(),
      env: request.env,
      maxAttempts: job.maxAttempts,
    };
    if (request.callbackUrl !== undefined) asyncJob.callbackUrl = request.callbackUrl;
    const beat = setInterval(() => {
      heartbeat(this.#o.db, lease, this.#o.leaseMs).then(
        (held) => {
          if (!held) this.#report(new Error(`lost the lease of job ${job.id} (attempt ${lease.attempt})`));
        },
        (err: unknown) => this.#report(err),
      );
    }, this.#o.heartbeatMs);
    try {
      await handler(asyncJob);
    } finally {
      clearInterval(beat);
    }
    await this.#settle(lease);
  }

  async #request(id: string): Promise<StoredRequest> {
    const [row] = await this.#o.db
      .select({ request: invocations.request })
      .from(invocations)
      .where(eq(invocations.id, id));
    const req = row?.request as Partial<StoredRequest> | null | undefined;
    const out: StoredRequest = { env: req?.env ?? {} };
    if (typeof req?.callbackUrl === "string") out.callbackUrl = req.callbackUrl;
    return out;
  }

  /**
   * Writes the attempt's end under the lease. A database outage is retried
   * while the lease would still be valid; after that another server owns the
   * job and this attempt's result is dropped, as the lease rules require.
   */
  async #settle(lease: JobLease): Promise<void> {
    const final = this.#o.takeFinal(lease.id);
    const deadline = Date.now() + this.#o.leaseMs;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        if (final) {
          const record: AttemptRecord = { ...final, record: { ...final.record, attempt: lease.attempt } };
          await complete(this.#o.db, lease, record);
        } else {
          await fail(this.#o.db, lease, { error: "the worker ended without a result" });
        }
        return;
      } catch (err) {
        if (Date.now() + delay > deadline) throw err;
        this.#report(err);
        await Bun.sleep(delay);
      }
    }
  }

  #report(err: unknown): void {
    try {
      this.#o.onError?.(err instanceof Error ? err : new Error(errorMessage(err)));
    } catch {
      // A failing logger must not stop the queue.
    }
  }
}
