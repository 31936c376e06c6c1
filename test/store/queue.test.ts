import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { claim, complete, enqueue, fail, getJob, heartbeat } from "../../src/store/queue.ts";
import { getInvocation } from "../../src/store/records.ts";
import { BACKENDS, newInvocation, removeTempDirs, type TestDatabase, waitFor } from "./helpers.ts";

afterAll(removeTempDirs);
setDefaultTimeout(60_000);

for (const backend of BACKENDS) {
  describe(`queue on ${backend.name}`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await backend.open();
    });
    afterAll(async () => {
      await t?.dispose();
    });
    const db = () => t.database.db;

    /** Leaves no due job behind, so each test starts from an empty queue. */
    async function drainQueue() {
      for (;;) {
        const got = await claim(db(), "sweeper", 60_000, 500);
        if (got.length === 0) return;
        for (const { lease } of got) await complete(db(), lease);
      }
    }

    function asyncCall(fields: Parameters<typeof newInvocation>[0] = {}) {
      const { trigger: _t, state: _s, ...rest } = newInvocation(fields);
      return rest;
    }

    test("enqueue writes invocation and job together; an idempotency key enqueues once", async () => {
      const payload = new Uint8Array([0, 1, 2, 255]);
      const call = asyncCall({ function: "q-enqueue", idempotencyKey: Bun.randomUUIDv7() });
      const first = await enqueue(db(), { invocation: call, payload, maxAttempts: 5 });
      expect(first.created).toBe(true);
      expect(first.invocation).toMatchObject({ trigger: "async", state: "queued" });
      const job = await getJob(db(), call.id);
      expect(job).toMatchObject({ state: "queued", attempts: 0, maxAttempts: 5, function: "q-enqueue" });
      expect(job?.payload && [...job.payload]).toEqual([0, 1, 2, 255]);

      const dup = asyncCall({ function: "q-enqueue", idempotencyKey: call.idempotencyKey });
      const second = await enqueue(db(), { invocation: dup, payload });
      expect(second).toMatchObject({ created: false, invocation: { id: call.id } });
      expect(await getJob(db(), dup.id)).toBeNull();
      await drainQueue();
    });

    test("concurrent claimers never get the same job", async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const call = asyncCall({ function: "q-race" });
        ids.add(call.id);
        await enqueue(db(), { invocation: call });
      }
      const seen: string[] = [];
      const claimer = async (n: number) => {
        for (;;) {
          const got = await claim(db(), `worker-${n}`, 60_000, 7);
          if (got.length === 0) return;
          for (const { job, lease } of got) {
            seen.push(job.id);
            expect(lease).toEqual({ id: job.id, owner: `worker-${n}`, attempt: 1 });
          }
          await Bun.sleep(0);
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, n) => claimer(n)));
      expect(seen.length).toBe(200);
      expect(new Set(seen)).toEqual(ids);
      const inv = await getInvocation(db(), [...ids][0]!);
      expect(inv).toMatchObject({ state: "running", attempt: 1 });
      await drainQueue(); // nothing left: all 200 are leased for a minute
      const job = await getJob(db(), [...ids][0]!);
      expect(job?.state).toBe("leased");
    });

    test("an expired lease is re-claimed; the stale owner can no longer heartbeat, complete or fail", async () => {
      await drainQueue();
      const call = asyncCall({ function: "q-expire" });
      await enqueue(db(), { invocation: call, maxAttempts: 3 });
      const [a] = await claim(db(), "a", 1, 10);
      expect(a?.lease).toEqual({ id: call.id, owner: "a", attempt: 1 });

      let b: Awaited<ReturnType<typeof claim>>[number] | undefined;
      await waitFor("the lease to expire and be re-claimed", async () => {
        [b] = await claim(db(), "b", 60_000, 10);
        return b !== undefined;
      });
      expect(b?.lease).toEqual({ id: call.id, owner: "b", attempt: 2 });
      expect((await getInvocation(db(), call.id))?.attempt).toBe(2);

      const stale = a!.lease;
      expect(await heartbeat(db(), stale, 60_000)).toBe(false);
      expect(
        await complete(db(), stale, {
          record: {
            ...call,
            trigger: "async",
            state: "failed",
            reason: "exited",
            exitCode: 1,
            finishedAt: new Date(),
          },
        }),
      ).toBe(false);
      expect(await fail(db(), stale, { error: "late" })).toBe("stale");
      // Same owner name, older attempt: still stale.
      expect(await complete(db(), { ...b!.lease, attempt: 1 })).toBe(false);

      expect(await heartbeat(db(), b!.lease, 60_000)).toBe(true);
      const record = {
        ...call,
        trigger: "async" as const,
        state: "succeeded" as const,
        reason: "exited" as const,
        exitCode: 0,
        finishedAt: new Date(),
      };
      expect(await complete(db(), b!.lease, { record })).toBe(true);
      expect(await getJob(db(), call.id)).toMatchObject({ state: "done", attempts: 2 });
      expect(await getInvocation(db(), call.id)).toMatchObject({ state: "succeeded", exitCode: 0 });
      expect(await complete(db(), b!.lease)).toBe(false); // done is done
    });

    test("fail retries at retryAt, then the job is dead after max_attempts", async () => {
      await drainQueue();
      const call = asyncCall({ function: "q-fail" });
      await enqueue(db(), { invocation: call, maxAttempts: 2 });
      const [first] = await claim(db(), "w", 60_000, 10);
      expect(
        await fail(db(), first!.lease, { error: "boom", retryAt: new Date(Date.now() + 3_600_000) }),
      ).toBe("retry");
      expect(await getInvocation(db(), call.id)).toMatchObject({ state: "queued", error: "boom" });
      expect(await claim(db(), "w", 60_000, 10)).toEqual([]); // not due yet

      expect(await fail(db(), first!.lease, { error: "again" })).toBe("stale"); // already given back

      const call2 = asyncCall({ function: "q-fail" });
      await enqueue(db(), { invocation: call2, maxAttempts: 2 });
      const [c1] = await claim(db(), "w", 60_000, 10);
      expect(c1?.job.id).toBe(call2.id);
      expect(await fail(db(), c1!.lease, { error: "one" })).toBe("retry");
      const [c2] = await claim(db(), "w", 60_000, 10);
      expect(c2?.lease.attempt).toBe(2);
      expect(await fail(db(), c2!.lease, { error: "two" })).toBe("dead");
      expect(await getJob(db(), call2.id)).toMatchObject({ state: "dead", attempts: 2, lastError: "two" });
      expect(await getInvocation(db(), call2.id)).toMatchObject({ state: "failed", error: "two" });
      expect(await claim(db(), "w", 60_000, 10)).toEqual([]);
    });

    test("an expired lease on the last attempt buries the job and marks the invocation lost", async () => {
      await drainQueue();
      const call = asyncCall({ function: "q-bury" });
      await enqueue(db(), { invocation: call, maxAttempts: 1 });
      const [only] = await claim(db(), "w", 1, 10);
      expect(only?.lease.attempt).toBe(1);
      await waitFor("the job to be buried", async () => {
        await claim(db(), "other", 60_000, 10);
        return (await getJob(db(), call.id))?.state === "dead";
      });
      expect(await getInvocation(db(), call.id)).toMatchObject({ state: "lost", reason: "lost" });
      expect(await complete(db(), only!.lease)).toBe(false);
    });
  });
}
