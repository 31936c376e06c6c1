import { errorMessage } from "../errors.ts";
import type { FunctionSpec } from "../functions/spec.ts";
import { backoffDelay, sleepUnlessAborted } from "./backoff.ts";
import { deliverCallback } from "./callback.ts";
import type { Invoker, RunResult } from "./invoker.ts";
import type { AsyncJob, AsyncQueue } from "./queue.ts";
import { collect } from "./streams.ts";

export interface AsyncSubmit {
  fn: FunctionSpec;
  body: Uint8Array;
  env: Record<string, string>;
  callbackUrl?: string;
  idempotencyKey?: string;
}

export interface AsyncServiceDeps {
  invoker: Invoker;
  queue: AsyncQueue;
  /** Looks a function up again when its job runs (it may have changed or gone). */
  lookup: (name: string) => FunctionSpec | undefined;
  callbackSecret: string;
  /** Workers taking jobs off the queue (admission still applies per function). */
  concurrency?: number;
  idempotencyTtlMs?: number;
  callbackAttempts?: number;
  callbackBackoffMs?: number;
  callbackTimeoutMs?: number;
}

/**
 * Async invocations: queue, idempotency, retry policy per function, and the result callback.
 * `Idempotency-Key` replays return the first call's id for `idempotencyTtlMs` (default 24 h).
 */
export class AsyncService {
  readonly #d: AsyncServiceDeps;
  readonly #idempotent = new Map<string, { id: string; expires: number }>();
  /** Jobs a worker is handling, to cancel retries and waits. */
  readonly #inflight = new Map<string, AbortController>();

  constructor(deps: AsyncServiceDeps) {
    this.#d = deps;
    deps.queue.run((job) => this.#handle(job), deps.concurrency ?? 16);
  }

  async submit(req: AsyncSubmit): Promise<{ id: string; replayed: boolean }> {
    const now = Date.now();
    const key = req.idempotencyKey === undefined ? undefined : `${req.fn.name}\n${req.idempotencyKey}`;
    if (key !== undefined) {
      const hit = this.#idempotent.get(key);
      if (hit && hit.expires > now) return { id: hit.id, replayed: true };
    }
    this.#invoker.checkHealth();
    const extra: { idempotencyKey?: string; callbackUrl?: string } = {};
    if (req.idempotencyKey !== undefined) extra.idempotencyKey = req.idempotencyKey;
    if (req.callbackUrl !== undefined) extra.callbackUrl = req.callbackUrl;
    const record = this.#invoker.queued(req.fn.name, extra);
    if (key !== undefined) {
      this.#sweep(now);
      this.#idempotent.set(key, { id: record.id, expires: now + (this.#d.idempotencyTtlMs ?? 86_400_000) });
    }
    const job: AsyncJob = {
      id: record.id,
      function: req.fn.name,
      body: req.body,
      env: req.env,
      maxAttempts: req.fn.retry.attempts,
    };
    if (req.callbackUrl !== undefined) job.callbackUrl = req.callbackUrl;
    try {
      await this.#d.queue.push(job);
    } catch (err) {
      // Not accepted after all: the caller gets the error, the record says why.
      if (key !== undefined) this.#idempotent.delete(key);
      this.#invoker.finish(record.id, { status: "error", error: errorMessage(err) });
      throw err;
    }
    return { id: record.id, replayed: false };
  }

  get #invoker(): Invoker {
    return this.#d.invoker;
  }

  #sweep(now: number): void {
    if (this.#idempotent.size < 10_000) return;
    for (const [k, v] of this.#idempotent) if (v.expires <= now) this.#idempotent.delete(k);
  }

  /** Cancels a queued job or one between retries; true when this service owned it. */
  async cancel(id: string): Promise<boolean> {
    if (await this.#d.queue.remove(id)) {
      this.#invoker.finish(id, { status: "cancelled", error: "cancelled while queued" });
      return true;
    }
    const ctl = this.#inflight.get(id);
    if (!ctl) return false;
    ctl.abort(new Error("cancelled"));
    return true;
  }

  async close(): Promise<void> {
    for (const ctl of this.#inflight.values()) ctl.abort(new Error("shutting down"));
    await this.#d.queue.close();
  }

  async #handle(job: AsyncJob): Promise<void> {
    const ctl = new AbortController();
    this.#inflight.set(job.id, ctl);
    try {
      await this.#runJob(job, ctl.signal);
    } catch (err) {
      this.#invoker.finish(job.id, { status: "error", error: errorMessage(err) });
    } finally {
      this.#inflight.delete(job.id);
    }
  }

  async #runJob(job: AsyncJob, signal: AbortSignal): Promise<void> {
    const fn = this.#d.lookup(job.function);
    if (!fn) {
      this.#invoker.finish(job.id, { status: "error", error: `function "${job.function}" no longer exists` });
      return;
    }
    let result: RunResult | undefined;
    let output: Uint8Array = new Uint8Array();
    let lastError: string | undefined;
    for (let attempt = 1; attempt <= fn.retry.attempts; attempt++) {
      if (signal.aborted) break;
      let release: (() => void) | undefined;
      try {
        release = await this.#invoker.admission.acquire(fn.name, fn.maxInflight, signal);
        const running = await this.#invoker.start({
          fn,
          mode: "async",
          id: job.id,
          env: job.env,
          stdin: job.body,
          release,
        });
        const onAbort = () => void running.cancel();
        signal.addEventListener("abort", onAbort, { once: true });
        // A cancel that came while the task was being started has already fired.
        if (signal.aborted) onAbort();
        output = await collect(running.stdout);
        result = await running.result;
        signal.removeEventListener("abort", onAbort);
        lastError = undefined;
        if (result.status === "succeeded" || result.status === "cancelled") break;
      } catch (err) {
        if (signal.aborted) break;
        release?.();
        result = undefined;
        lastError = errorMessage(err);
      }
      if (attempt < fn.retry.attempts)
        await sleepUnlessAborted(backoffDelay(fn.retry.backoffMs, attempt), signal);
    }
    const final = signal.aborted
      ? result
        ? { ...result, status: "cancelled" as const }
        : { status: "cancelled" as const, error: "cancelled" }
      : (result ?? { status: "error" as const, error: lastError ?? "did not run" });
    if (job.callbackUrl !== undefined && !signal.aborted) {
      const cb = await deliverCallback(
        {
          url: job.callbackUrl,
          callId: job.id,
          functionName: fn.name,
          status: final.status,
          durationMs: result?.durationMs ?? 0,
          body: output,
          contentType: fn.contentType,
          ...(result?.outcome ? { exitCode: result.outcome.exitCode } : {}),
        },
        {
          secret: this.#d.callbackSecret,
          attempts: this.#d.callbackAttempts ?? 3,
          backoffMs: this.#d.callbackBackoffMs ?? 500,
          timeoutMs: this.#d.callbackTimeoutMs ?? 10_000,
        },
      );
      this.#invoker.update(job.id, { callbackStatus: cb.status });
    }
    this.#invoker.finish(job.id, final);
  }
}
