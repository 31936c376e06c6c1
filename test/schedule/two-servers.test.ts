/**
 * Exactly once across servers: two real `bunker serve` processes on one fresh Postgres database
 * race for every due time of a `* * * * *` schedule.
 *
 * A minute schedule is too slow for a test, and a seconds field or a hidden interval in the
 * public schema is not wanted. Instead both servers get BUNKER_TEST_CLOCK="<realStart>,<virtualStart>,60":
 * a scaled clock (src/schedule/clock.ts) on which one virtual minute lasts one real second.
 * Both processes derive the same virtual time from the same anchor, so their timers wake
 * together and they really race on each claim.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createScratchDatabase, waitFor } from "../store/helpers.ts";

const ROOT = join(import.meta.dir, "../..");
const dirs: string[] = [];
const temp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), `bunker-2srv-${p}-`));
  dirs.push(d);
  return d;
};

afterAll(() => {
  for (const d of dirs.splice(0)) {
    // Each server's exec driver mounts a tmpfs on <data>/tasks.
    Bun.spawnSync(["umount", join(d, "tasks")]);
    rmSync(d, { recursive: true, force: true });
  }
});

test("two servers on one Postgres fire each scheduled time exactly once", async () => {
  const db = await createScratchDatabase();
  const fnDir = temp("fns");
  writeFileSync(join(fnDir, "tick.toml"), 'command = "/bin/true"\nschedule = "* * * * *"\n');
  const realStart = Date.now();
  const virtualStart = Date.parse("2031-06-01T00:00:00Z");
  const servers = ["one", "two"].map((label) => {
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      DATABASE_URL: db.url,
      BUNKER_FUNCTIONS_DIR: fnDir,
      BUNKER_DATA_DIR: temp(label),
      BUNKER_PORT: "0",
      BUNKER_POOL_MIN: "0",
      BUNKER_TEST_CLOCK: `${realStart},${virtualStart},60`,
    };
    const proc = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "serve"], {
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = { label, proc, text: "" };
    void (async () => {
      for await (const chunk of proc.stdout) out.text += new TextDecoder().decode(chunk);
    })();
    return out;
  });
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    const count = async () => {
      const rows =
        await sql`select count(*)::int as n from schedule_runs where function = 'tick' and state <> 'running'`.catch(
          () => [{ n: 0 }],
        );
      return rows[0]?.n ?? 0;
    };
    await waitFor("both servers to serve", () => servers.every((s) => s.text.includes("serving")), 60_000);
    const before = await count();
    await waitFor("12 more finished scheduled runs", async () => (await count()) >= before + 12, 90_000);
  } finally {
    for (const s of servers) s.proc.kill("SIGTERM");
    await Promise.all(servers.map((s) => s.proc.exited));
  }
  try {
    const rows = await sql<{ at: Date; node: string; state: string; invocation_id: string }[]>`
      select scheduled_at as at, node, state, invocation_id from schedule_runs
      where function = 'tick' and kind = 'scheduled' order by scheduled_at`;
    // Started runs, per server log: each time once over both logs, and each matches its claim.
    const started = servers.flatMap((s) =>
      [...s.text.matchAll(/schedule tick: started the scheduled run of (\S+) as (\S+)/g)].map((m) => ({
        server: s.label,
        at: m[1] ?? "",
        id: m[2] ?? "",
      })),
    );
    const times = started.map((s) => s.at);
    expect(new Set(times).size).toBe(times.length);
    expect(times.length).toBeGreaterThanOrEqual(12);
    const byTime = new Map(rows.map((r) => [r.at.toISOString(), r]));
    for (const s of started) expect(byTime.get(s.at)?.invocation_id).toBe(s.id);
    // No time was lost between the first and the last: consecutive minutes.
    const sorted = rows.map((r) => r.at.getTime());
    for (let i = 1; i < sorted.length; i++) expect((sorted[i] ?? 0) - (sorted[i - 1] ?? 0)).toBe(60_000);
    const perServer = Object.fromEntries(
      servers.map((s) => [s.label, started.filter((x) => x.server === s.label).length]),
    );
    console.log(
      `two-server test: ${rows.length} scheduled times, started per server ${JSON.stringify(perServer)}`,
    );
  } finally {
    await sql.end();
    await db.drop();
  }
}, 180_000);
