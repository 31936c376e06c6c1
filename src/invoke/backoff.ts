/** Longest wait between two tries, whatever the policy says. */
export const MAX_BACKOFF_MS = 60 * 60 * 1000;

/** Exponential backoff: `baseMs` before the 1st retry, then 2x, 4x, ..., at most MAX_BACKOFF_MS. */
export function backoffDelay(baseMs: number, retry: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, retry - 1), MAX_BACKOFF_MS);
}

/** Waits `ms`, or less when `signal` aborts first (never rejects). */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
