import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { type JobError, Threads } from "../../src/threads.ts";
import type { EchoJob } from "./fixtures/echo-worker.ts";

const script = new URL("./fixtures/echo-worker.ts", import.meta.url);
const pools: Threads<EchoJob, number>[] = [];

function pool(count = 1): Threads<EchoJob, number> {
  const p = new Threads<EchoJob, number>(script, count, "bunker-test");
  pools.push(p);
  return p;
}

afterEach(() => {
  for (const p of pools.splice(0)) p.terminate();
});

describe("Threads", () => {
  test("answers each job with its own result, sync or async, in any order", async () => {
    const p = pool(2);
    const slow = p.run({ op: "later", value: 1, ms: 50 });
    const fast = p.run({ op: "echo", value: 2 });
    expect(await fast).toBe(2);
    expect(await slow).toBe(1);
  });

  test("an error keeps its message, name and primitive fields, not large ones", async () => {
    const err = (await pool()
      .run({ op: "fail" })
      .catch((e: JobError) => e)) as JobError;
    expect(err.message).toBe("refused");
    expect(err.name).toBe("Error");
    expect(err.code).toBe("23505");
    expect(err.detail).toBe("key exists");
    expect(err.params).toBeUndefined();
  });

  test("a thread that dies fails the jobs it held, and the next job gets a new thread", async () => {
    const p = pool();
    expect(await p.run({ op: "tid" })).toBe(1);
    expect(await p.run({ op: "tid" })).toBe(2);
    const [held, died] = await Promise.allSettled([
      p.run({ op: "later", value: 9, ms: 5_000 }),
      p.run({ op: "die" }),
    ]);
    for (const job of [held, died]) {
      expect(job.status).toBe("rejected");
      expect((job as PromiseRejectedResult).reason.message).toContain("stopped");
    }
    expect(await p.run({ op: "tid" })).toBe(1);
  });

  test("threads carry their name, so /proc, top -H and perf can tell them apart", async () => {
    await pool().run({ op: "echo", value: 1 });
    const names = readdirSync("/proc/self/task").map((tid) =>
      readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim(),
    );
    expect(names).toContain("bunker-test");
  });

  test("terminate fails what is in flight", async () => {
    const p = pool();
    const held = p.run({ op: "later", value: 1, ms: 5_000 });
    await Bun.sleep(20);
    p.terminate();
    await expect(held).rejects.toMatchObject({ message: expect.stringContaining("stopped") });
  });
});
