/**
 * Durable async invocations across processes: a server SIGKILLed while it
 * runs an async job leaves the job leased; once the lease expires a second
 * server on the same database claims it and completes it exactly once.
 */
import { afterAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { invocations, jobs } from "../../db/schema.ts";
import { openDatabase } from "../../src/store/db.ts";
import { createScratchDatabase, removeTempDirs, tempDir, waitFor } from "../store/helpers.ts";
import { functionsDir, removeDataDirs, type ServeProcess, startServe } from "./helpers.ts";

afterAll(() => {
  removeDataDirs();
  removeTempDirs();
});

const root = process.getuid?.() === 0;
if (!root) console.log("skip durable-queue.test.ts: the exec driver needs root to run tasks");

test.skipIf(!root)(
  "a SIGKILLed server's job is retried after its lease expires and completed once by another server",
  async () => {
    const scratch = await createScratchDatabase();
    const fns = functionsDir({
      // Long enough to be killed mid-run, short enough for the retry.
      "dq-slow": {
        command: "/bin/sleep",
        args: ["2"],
        timeout: "30s",
        retry: { attempts: 3, backoff: "100ms" },
      },
    });
    const env = { BUNKER_JOB_LEASE_MS: "1500" };
    const servers: ServeProcess[] = [];
    const database = await openDatabase({ url: scratch.url, dataDir: tempDir("dq-reader") });
    try {
      const a = await startServe({ functions: fns, databaseUrl: scratch.url, env });
      servers.push(a);
      const res = await fetch(`${a.url}/async-function/dq-slow`, { method: "POST", body: "x" });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const jobOf = async () => (await database.db.select().from(jobs).where(eq(jobs.id, id)))[0];
      await waitFor("server A to lease the job", async () => (await jobOf())?.state === "leased");
      const leasedByA = await jobOf();
      await a.kill("SIGKILL");

      const b = await startServe({ functions: fns, databaseUrl: scratch.url, env });
      servers.push(b);
      await waitFor("the job to be done", async () => (await jobOf())?.state === "done", 60_000);
      const job = await jobOf();
      const [inv] = await database.db.select().from(invocations).where(eq(invocations.id, id));
      expect(job?.attempts).toBe(2);
      expect(job?.leaseOwner).not.toBe(leasedByA?.leaseOwner ?? null);
      expect(inv?.state).toBe("succeeded");
      expect(inv?.attempt).toBe(2);
      expect(inv?.exitCode).toBe(0);
      expect(inv?.trigger).toBe("async");
      // Nothing runs it a third time: the job stays done with two attempts.
      await Bun.sleep(2_000);
      expect((await jobOf())?.attempts).toBe(2);
      const api = (await (await fetch(`${b.url}/system/invocations/${id}`)).json()) as { status: string };
      expect(api.status).toBe("succeeded");
    } finally {
      for (const s of servers) await s.kill("SIGKILL");
      await database.close();
      await scratch.drop();
    }
  },
  120_000,
);
