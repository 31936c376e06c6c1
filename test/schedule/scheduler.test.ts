/**
 * The scheduler against the real exec driver and a real database (a scratch database on the
 * local Postgres; one test on PGlite), with a manual clock: time moves only through tick(now).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../../src/gateway/app.ts";
import type { JobDeps } from "../../src/gateway/routes/jobs.ts";
import { ManualClock } from "../../src/schedule/clock.ts";
import { JobNotFoundError, JobOverlapError } from "../../src/schedule/errors.ts";
import { BACKENDS, removeTempDirs, type TestDatabase } from "../store/helpers.ts";
import { cancelAll, makeScheduler, makeServer, minute, type Server, T0, uniqueName } from "./helpers.ts";

const pglite = BACKENDS.find((b) => b.name === "pglite");
const postgres = BACKENDS.find((b) => b.name === "postgres");
if (!pglite || !postgres) throw new Error("test/store/helpers.ts lost a backend");

let pg: TestDatabase;
let server: Server;

beforeAll(async () => {
  pg = await postgres.open();
  server = makeServer();
});

afterAll(async () => {
  await server.dispose();
  await pg.dispose();
  removeTempDirs();
});

const LONG = { command: "/bin/sleep", args: ["30"], timeout: "60s", kill_timeout: "1s" };

function define(prefix: string, def: Record<string, unknown>): string {
  const name = uniqueName(prefix);
  server.registry.put(name, def);
  return name;
}

describe("firing", () => {
  test("each due time fires once and its end is recorded (PGlite)", async () => {
    const lite = await pglite.open();
    try {
      const name = define("every-minute", { command: "/bin/true", schedule: "* * * * *" });
      const { scheduler, runs } = makeScheduler(server, lite.database.db, "a", [name]);
      expect(await scheduler.tick(T0)).toEqual([]); // first sight: counts from now
      const [fired, ...more] = (await scheduler.tick(minute(1, 2))).filter((r) => r.function === name);
      expect(more).toEqual([]);
      expect(fired).toMatchObject({
        result: "started",
        kind: "scheduled",
        scheduledAt: "2030-01-01T00:01:00.000Z",
      });
      expect((await scheduler.tick(minute(1, 30))).filter((r) => r.function === name)).toEqual([]);
      await scheduler.idle();
      const [row] = await runs.list(name);
      expect(row).toMatchObject({
        state: "succeeded",
        outcome: "succeeded",
        exitCode: 0,
        cron: "* * * * *",
        node: "a",
      });
      expect(row?.invocationId).toBe(fired?.invocationId ?? "missing");
      // The run is an ordinary invocation of the invoke layer, with the scheduler's id.
      expect(await server.services.log.get(row?.invocationId ?? "")).toMatchObject({
        function: name,
        status: "succeeded",
      });
    } finally {
      await lite.dispose();
    }
  }, 120_000); // opening PGlite alone takes seconds on a busy machine

  test("a late tick fires only the latest due time, never a backlog", async () => {
    const name = define("late", { command: "/bin/true", schedule: "* * * * *" });
    const { scheduler, runs } = makeScheduler(server, pg.database.db, "a", [name]);
    await scheduler.tick(T0);
    const fired = (await scheduler.tick(minute(7, 5))).filter((r) => r.function === name);
    expect(fired.map((r) => r.scheduledAt)).toEqual(["2030-01-01T00:07:00.000Z"]);
    await scheduler.idle();
    expect((await runs.list(name)).length).toBe(1);
  }, 30_000);

  test("payload is the run's stdin; a failing run is recorded as failed", async () => {
    const name = define("payload", {
      command: "/bin/sh",
      args: ["-c", 'read line; [ "$line" = "from cron" ] && exit 3'],
      schedule: { cron: "*/5 * * * *", payload: "from cron\n" },
    });
    const { scheduler, runs } = makeScheduler(server, pg.database.db, "a", [name]);
    await scheduler.tick(T0);
    await scheduler.tick(minute(5));
    await scheduler.idle();
    expect((await runs.list(name))[0]).toMatchObject({ state: "failed", outcome: "failed", exitCode: 3 });
  }, 30_000);

  test("a disabled schedule does not fire and has no next time", async () => {
    const name = define("disabled", {
      command: "/bin/true",
      schedule: { cron: "* * * * *", enabled: false },
    });
    const { scheduler } = makeScheduler(server, pg.database.db, "a", [name]);
    await scheduler.tick(T0);
    expect((await scheduler.tick(minute(3))).filter((r) => r.function === name)).toEqual([]);
    const job = (await scheduler.jobs()).find((j) => j.name === name);
    expect(job).toMatchObject({ enabled: false, next: null, last: null });
  }, 30_000);

  test("jitter delays the start, not the claim", async () => {
    const name = define("jitter", { command: "/bin/true", schedule: { cron: "* * * * *", jitter: "4m" } });
    const clock = new ManualClock(T0);
    const { scheduler, runs } = makeScheduler(server, pg.database.db, "a", [name], clock);
    await scheduler.tick(T0);
    clock.set(minute(1));
    const [r] = (await scheduler.tick(minute(1))).filter((x) => x.function === name);
    expect((await runs.list(name))[0]?.state).toBe("running"); // claimed at once
    expect(server.services.invoker.active(r?.invocationId ?? "")).toBeUndefined();
    expect(await server.services.log.get(r?.invocationId ?? "")).toBeUndefined(); // not started yet
    clock.advance(2 * 60_000); // random() = 0.5 of 4 minutes
    await scheduler.idle();
    expect((await runs.list(name))[0]?.state).toBe("succeeded");
  }, 30_000);
});

describe("overlap policies with a long-running job", () => {
  test('forbid: a run due while the previous still runs is skipped, and recorded as "skipped"', async () => {
    const name = define("forbid", { ...LONG, schedule: { cron: "* * * * *", overlap: "forbid" } });
    const { scheduler, runs } = makeScheduler(server, pg.database.db, "a", [name]);
    await scheduler.tick(T0);
    const [first] = await scheduler.tick(minute(1));
    expect(first?.result).toBe("started");
    const [second] = await scheduler.tick(minute(2));
    expect(second).toMatchObject({ result: "skipped", scheduledAt: "2030-01-01T00:02:00.000Z" });
    expect(second?.error).toContain("the run of 2030-01-01T00:01:00.000Z is still running");
    await cancelAll(server, [first?.invocationId]);
    await scheduler.idle();
    const [third] = await scheduler.tick(minute(3));
    expect(third?.result).toBe("started");
    await cancelAll(server, [third?.invocationId]);
    await scheduler.idle();
    const states = (await runs.list(name)).map((r) => [r.scheduledAt.toISOString().slice(11, 16), r.state]);
    expect(states).toEqual([
      ["00:03", "cancelled"],
      ["00:02", "skipped"],
      ["00:01", "cancelled"],
    ]);
  }, 30_000);

  test("forbid holds across servers, also when two servers claim different times at once (Nomad #11052)", async () => {
    const name = define("forbid-race", { ...LONG, schedule: { cron: "* * * * *", overlap: "forbid" } });
    const a = makeScheduler(server, pg.database.db, "a", [name]);
    const b = makeScheduler(server, pg.database.db, "b", [name]);
    await Promise.all([a.scheduler.tick(T0), b.scheduler.tick(T0)]);
    // A sees 00:01 due, B (its timer later) sees 00:02: two different keys, nothing running yet.
    // Checking "is one running?" and then starting, as Nomad does, lets both start.
    const [ra, rb] = await Promise.all([a.scheduler.tick(minute(1, 10)), b.scheduler.tick(minute(2, 10))]);
    const results = [...(ra ?? []), ...(rb ?? [])].filter((r) => r.function === name);
    expect(results.map((r) => r.result).sort()).toEqual(["skipped", "started"]);
    // And a server that did not start the run still sees it through the table.
    const [later] = (await a.scheduler.tick(minute(3))).filter((r) => r.function === name);
    expect(later?.result).toBe("skipped");
    await cancelAll(
      server,
      results.map((r) => r.invocationId),
    );
    await Promise.all([a.scheduler.idle(), b.scheduler.idle()]);
    const rows = await a.runs.list(name);
    expect(rows.filter((r) => r.state !== "skipped").length).toBe(1);
  }, 30_000);

  test("forbid: eight servers claiming eight different times at once start exactly one run", async () => {
    const name = uniqueName("forbid-claims");
    const store = makeScheduler(server, pg.database.db, "a", []).runs;
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.claim({
          function: name,
          scheduledAt: new Date(minute(i + 1)),
          kind: "scheduled",
          cron: "* * * * *",
          node: `node-${i}`,
          invocationId: `inv-${name}-${i}`,
          overlap: "forbid",
          now: new Date(minute(9)),
          staleBefore: new Date(minute(0)),
        }),
      ),
    );
    const states = claims.map((c) => (c.claimed ? c.row.state : "taken")).sort();
    expect(states).toEqual(["running", ...Array(7).fill("skipped")]);
  }, 30_000);

  test("allow: runs overlap", async () => {
    const name = define("allow", { ...LONG, schedule: { cron: "* * * * *" } });
    const { scheduler, runs } = makeScheduler(server, pg.database.db, "a", [name]);
    await scheduler.tick(T0);
    const [one] = await scheduler.tick(minute(1));
    const [two] = await scheduler.tick(minute(2));
    expect([one?.result, two?.result]).toEqual(["started", "started"]);
    expect(server.services.invoker.active(one?.invocationId ?? "")).toBeDefined();
    expect(server.services.invoker.active(two?.invocationId ?? "")).toBeDefined();
    expect((await runs.list(name)).map((r) => r.state)).toEqual(["running", "running"]);
    await cancelAll(server, [one?.invocationId, two?.invocationId]);
    await scheduler.idle();
  }, 30_000);

  test("replace: the running one is stopped through the invoke layer, then the new one starts", async () => {
    const name = define("replace", { ...LONG, schedule: { cron: "* * * * *", overlap: "replace" } });
    const { scheduler, runs } = makeScheduler(server, pg.database.db, "a", [name]);
    await scheduler.tick(T0);
    const [one] = await scheduler.tick(minute(1));
    const [two] = await scheduler.tick(minute(2));
    expect([one?.result, two?.result]).toEqual(["started", "started"]);
    expect(server.services.invoker.active(one?.invocationId ?? "")).toBeUndefined();
    expect(server.services.invoker.active(two?.invocationId ?? "")).toBeDefined();
    await cancelAll(server, [two?.invocationId]);
    await scheduler.idle();
    const [newest, oldest] = await runs.list(name);
    expect(oldest).toMatchObject({ state: "cancelled", outcome: "cancelled" });
    expect(oldest?.error).toBe('replaced by the run of 2030-01-01T00:02:00.000Z (overlap = "replace")');
    expect(newest?.scheduledAt.toISOString()).toBe("2030-01-01T00:02:00.000Z");
  }, 30_000);
});

describe("catch-up after downtime", () => {
  async function downtime(catchUp: "skip" | "once") {
    const name = define(`catch-${catchUp}`, {
      command: "/bin/true",
      schedule: { cron: "*/10 * * * *", catch_up: catchUp },
    });
    const before = makeScheduler(server, pg.database.db, "a", [name], new ManualClock(T0));
    await before.scheduler.start();
    await before.scheduler.tick(minute(10));
    await before.scheduler.stop();
    await before.scheduler.idle();
    // Down from 00:10 to 01:05: 00:20 ... 01:00 were missed. Two servers come back at once.
    const after1 = makeScheduler(server, pg.database.db, "b", [name], new ManualClock(minute(65)));
    const after2 = makeScheduler(server, pg.database.db, "c", [name], new ManualClock(minute(65, 1)));
    const started = await Promise.all([after1.scheduler.start(), after2.scheduler.start()]);
    await Promise.all([after1.scheduler.stop(), after2.scheduler.stop()]);
    await Promise.all([after1.scheduler.idle(), after2.scheduler.idle()]);
    const reports = started.flat().filter((r) => r.function === name);
    const rows = await before.runs.list(name);
    return { reports, rows, lines: [...after1.lines, ...after2.lines] };
  }

  test('"once": exactly one catch-up run, for the latest missed time', async () => {
    const { reports, rows } = await downtime("once");
    expect(reports.filter((r) => r.result === "started")).toEqual([
      expect.objectContaining({ kind: "catch_up", scheduledAt: "2030-01-01T01:00:00.000Z" }),
    ]);
    expect(rows.map((r) => [r.scheduledAt.toISOString().slice(11, 16), r.kind, r.state])).toEqual([
      ["01:00", "catch_up", "succeeded"],
      ["00:10", "scheduled", "succeeded"],
    ]);
  }, 30_000);

  test('"skip": nothing runs, and it says so in the log', async () => {
    const { reports, rows, lines } = await downtime("skip");
    expect(reports).toEqual([]);
    expect(rows.length).toBe(1);
    expect(
      lines.some((l) =>
        l.includes('skipping runs missed since 2030-01-01T00:10:00.000Z (catch_up = "skip")'),
      ),
    ).toBe(true);
  }, 30_000);
});

describe("manual trigger, list and next", () => {
  test("trigger runs now; unknown and unscheduled functions are refused", async () => {
    const name = define("manual", { command: "/bin/true", schedule: "@daily" });
    const plain = define("plain", { command: "/bin/true" });
    const { scheduler, runs } = makeScheduler(server, pg.database.db, "a", [name, plain]);
    const r = await scheduler.trigger(name);
    expect(r).toMatchObject({ result: "started", kind: "manual", scheduledAt: new Date(T0).toISOString() });
    const again = await scheduler.trigger(name); // same millisecond: the key moves on by 1 ms
    expect(again.scheduledAt).toBe(new Date(T0 + 1).toISOString());
    await scheduler.idle();
    expect((await runs.list(name)).map((x) => [x.kind, x.state, x.cron])).toEqual([
      ["manual", "succeeded", null],
      ["manual", "succeeded", null],
    ]);
    expect(scheduler.trigger("no-such-fn")).rejects.toThrow(JobNotFoundError);
    expect(scheduler.trigger(plain)).rejects.toThrow(
      `function "${plain}" has no schedule, so it is not a job`,
    );
  }, 30_000);

  test("trigger respects forbid while a run is going", async () => {
    const name = define("manual-forbid", { ...LONG, schedule: { cron: "@daily", overlap: "forbid" } });
    const { scheduler } = makeScheduler(server, pg.database.db, "a", [name]);
    const r = await scheduler.trigger(name);
    expect(scheduler.trigger(name)).rejects.toThrow(JobOverlapError);
    await cancelAll(server, [r.invocationId]);
    await scheduler.idle();
  }, 30_000);

  test("next and the HTTP API: GET /system/jobs, /next, POST /trigger", async () => {
    const name = define("api", {
      command: "/bin/true",
      schedule: { cron: "30 2 * * *", time_zone: "America/New_York" },
    });
    const clock = new ManualClock(Date.parse("2025-03-07T12:00:00Z"));
    const { scheduler } = makeScheduler(server, pg.database.db, "a", [name], clock);
    expect(scheduler.next(name, 3)).toEqual([
      "2025-03-08T07:30:00.000Z",
      "2025-03-10T06:30:00.000Z", // 2025-03-09 02:30 does not exist in New York
      "2025-03-11T06:30:00.000Z",
    ]);
    const deps: JobDeps = {
      version: "test",
      functions: server.registry,
      ...server.services,
      fingerprint: () => ({ health: "healthy", description: "test", attributes: {} }),
      tokens: null,
      jobs: scheduler,
    };
    const app = createApp(deps);
    const trig = await app.request(`/system/jobs/${name}/trigger`, { method: "POST" });
    expect(trig.status).toBe(202);
    expect(await trig.json()).toMatchObject({ result: "started", kind: "manual" });
    await scheduler.idle();
    const list = (await (await app.request("/system/jobs")).json()) as { jobs: Record<string, unknown>[] };
    expect(list.jobs.find((j) => j.name === name)).toMatchObject({
      crons: ["30 2 * * *"],
      timeZone: "America/New_York",
      overlap: "allow",
      next: "2025-03-08T07:30:00.000Z",
      last: { kind: "manual", state: "succeeded" },
    });
    const next = await app.request(`/system/jobs/${name}/next?n=2`);
    expect(await next.json()).toEqual({
      name,
      next: ["2025-03-08T07:30:00.000Z", "2025-03-10T06:30:00.000Z"],
    });
    const bad = await app.request(`/system/jobs/${name}/next?n=0`);
    expect(bad.status).toBe(422);
    const missing = await app.request("/system/jobs/no-such-job/trigger", { method: "POST" });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/problem+json");
  }, 30_000);
});
