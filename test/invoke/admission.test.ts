import { describe, expect, test } from "bun:test";
import { Admission } from "../../src/invoke/admission.ts";
import { BusyError } from "../../src/invoke/errors.ts";

function busy(f: () => unknown): BusyError {
  try {
    f();
  } catch (err) {
    if (err instanceof BusyError) return err;
    throw err;
  }
  throw new Error("expected a BusyError");
}

/** Whether a promise has settled by the time queued microtasks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await Bun.sleep(0);
  return done;
}

describe("Admission", () => {
  test("per-function max_inflight: the next call is refused, a release makes room", () => {
    const a = new Admission({ globalLimit: 10 });
    const r1 = a.tryAcquire("f", 2);
    a.tryAcquire("f", 2);
    const e = busy(() => a.tryAcquire("f", 2));
    expect(e.detail).toMatchObject({ scope: "function", limit: 2 });
    expect(e.retryAfterSeconds).toBe(1);
    expect(a.tryAcquire("g", 1)).toBeFunction();
    r1();
    r1(); // twice is harmless
    expect(a.inflight("f")).toBe(1);
    expect(a.total).toBe(2);
    a.tryAcquire("f", 2);
    // The refusal above is counted: the dashboard shows it as throttled.
    expect(a.throttled).toBe(1);
  });

  test("the global limit spans functions", () => {
    const a = new Admission({ globalLimit: 2 });
    a.tryAcquire("f", 5);
    const g = a.tryAcquire("g", 5);
    expect(busy(() => a.tryAcquire("h", 5)).detail).toMatchObject({ scope: "global", limit: 2 });
    g();
    expect(a.inflight("g")).toBe(0);
    a.tryAcquire("h", 5);
  });

  test("waiters are granted in FIFO order as runs finish", async () => {
    const a = new Admission({ globalLimit: 10 });
    const held = a.tryAcquire("f", 1);
    const order: number[] = [];
    const granted = (n: number) => (r: () => void) => {
      order.push(n);
      return r;
    };
    const w1 = a.acquire("f", 1).then(granted(1));
    const w2 = a.acquire("f", 1).then(granted(2));
    expect(await settled(w1)).toBe(false);
    held();
    const r1 = await w1;
    expect(await settled(w2)).toBe(false);
    r1();
    (await w2)();
    expect(order).toEqual([1, 2]);
    expect(a.total).toBe(0);
  });

  test("a waiter of a full function does not hold up another function", async () => {
    const a = new Admission({ globalLimit: 10 });
    a.tryAcquire("f", 1);
    const waiting = a.acquire("f", 1);
    const other = a.acquire("g", 1);
    expect(await settled(other)).toBe(true);
    expect(await settled(waiting)).toBe(false);
  });

  test("global waiters are woken when any function finishes", async () => {
    const a = new Admission({ globalLimit: 1 });
    const f = a.tryAcquire("f", 5);
    const g = a.acquire("g", 5);
    expect(await settled(g)).toBe(false);
    f();
    (await g)();
    expect(a.total).toBe(0);
  });

  test("a cancelled waiter leaves the queue and never takes a slot", async () => {
    const a = new Admission({ globalLimit: 10 });
    const held = a.tryAcquire("f", 1);
    const ctl = new AbortController();
    const cancelled = a.acquire("f", 1, ctl.signal);
    const next = a.acquire("f", 1);
    ctl.abort(new Error("cancelled"));
    await expect(cancelled).rejects.toThrow("cancelled");
    held();
    (await next)();
    expect(a.total).toBe(0);
    const pre = new AbortController();
    pre.abort(new Error("already"));
    a.tryAcquire("f", 1);
    await expect(a.acquire("f", 1, pre.signal)).rejects.toThrow("already");
  });
});
