import { BusyError } from "./errors.ts";

/** Gives back the slot; calling it twice is harmless. */
export type Release = () => void;

interface Waiter {
  fn: string;
  limit: number;
  grant: (release: Release) => void;
}

/**
 * Admission control: at most `limit` runs per function (its max_inflight) and at most
 * `globalLimit` in all. Sync calls use tryAcquire (429 when full); async workers wait in
 * FIFO order with acquire.
 */
export class Admission {
  readonly globalLimit: number;
  #total = 0;
  /** Calls refused with 429 since start, all functions together (the dashboard's "throttled"). */
  #throttled = 0;
  readonly #perFn = new Map<string, number>();
  readonly #waiters: Waiter[] = [];

  constructor(opts: { globalLimit: number }) {
    this.globalLimit = opts.globalLimit;
  }

  get total(): number {
    return this.#total;
  }

  get throttled(): number {
    return this.#throttled;
  }

  inflight(fn: string): number {
    return this.#perFn.get(fn) ?? 0;
  }

  #fits(fn: string, limit: number): boolean {
    return this.#total < this.globalLimit && this.inflight(fn) < limit;
  }

  #take(fn: string): Release {
    this.#total++;
    this.#perFn.set(fn, this.inflight(fn) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#total--;
      const n = this.inflight(fn) - 1;
      if (n > 0) this.#perFn.set(fn, n);
      else this.#perFn.delete(fn);
      this.#wake();
    };
  }

  #wake(): void {
    for (let i = 0; i < this.#waiters.length; ) {
      const w = this.#waiters[i];
      if (w && this.#fits(w.fn, w.limit)) {
        this.#waiters.splice(i, 1);
        w.grant(this.#take(w.fn));
      } else i++;
    }
  }

  /** A slot now, or a BusyError naming the limit that was hit. */
  tryAcquire(fn: string, limit: number): Release {
    if (this.inflight(fn) >= limit || this.#total >= this.globalLimit) this.#throttled++;
    if (this.inflight(fn) >= limit) {
      throw new BusyError(`function "${fn}" is at its max_inflight of ${limit}`, limit, "function");
    }
    if (this.#total >= this.globalLimit) {
      throw new BusyError(
        `the server is at its global limit of ${this.globalLimit} runs`,
        this.globalLimit,
        "global",
      );
    }
    return this.#take(fn);
  }

  /** Waits for a slot; rejects with the signal's reason when aborted first. */
  acquire(fn: string, limit: number, signal?: AbortSignal): Promise<Release> {
    // Every waiter left after #wake is blocked by its own function's limit (or the global one,
    // and then nothing fits): a call that fits may go ahead unless its function has a queue.
    if (this.#fits(fn, limit) && !this.#waiters.some((w) => w.fn === fn))
      return Promise.resolve(this.#take(fn));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        fn,
        limit,
        grant: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal?.reason);
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }
}
