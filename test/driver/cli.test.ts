/**
 * `bunker run` as a user types it: the README's acceptance command, exit code
 * propagation (the task's code, 128+N, 124, 126, 127, 2), one-line errors,
 * --report, stdin, the refusal to run without root, and nothing left behind.
 * Runs the real CLI in a subprocess, as root, against the real kernel.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { instanceOf } from "../../src/driver/exec.ts";
import { DEFAULT_RUN_DIR } from "../../src/driver/taskdir.ts";

const isRoot = process.getuid?.() === 0;
const TIMEOUT = 30_000;
const REPO = resolve(import.meta.dir, "../..");
const BIN = join(REPO, "bin/bunker");
const NOBODY = 65534;

const dataDir = mkdtempSync(join(tmpdir(), "bunker-cli-"));
/** The CLI's driver keeps task dirs in <run dir>/<instance of the data dir>; its ids start with that instance. */
const instance = instanceOf(dataDir);
const tasksDir = join(DEFAULT_RUN_DIR, instance);

interface Result {
  code: number;
  out: string;
  err: string;
}

async function cli(
  args: string[],
  opts: { cmd?: string[]; stdin?: string; env?: Record<string, string> } = {},
) {
  const child = Bun.spawn([...(opts.cmd ?? [BIN]), ...args], {
    cwd: REPO,
    env: { ...process.env, BUNKER_DATA_DIR: dataDir, ...opts.env },
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, out, err } satisfies Result;
}

/** The message is one line: what a user sees before their prompt comes back. */
function oneLine(err: string): string {
  const lines = err.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

/** Nomad's default capability set (Docker's minus NET_RAW), from <linux/capability.h> numbers. */
const DEFAULT_MASK = [29, 0, 1, 3, 4, 5, 27, 10, 31, 6, 8, 7, 18].reduce((m, n) => m | (1n << BigInt(n)), 0n);

function capLine(status: string, name: string): bigint | undefined {
  const hex = status.match(new RegExp(`^${name}:\\s+([0-9a-f]+)$`, "m"))?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}

/** cgroups and task dir of one task id; [] when nothing is left. */
function leftoversOf(id: string): string[] {
  const left: string[] = [];
  for (const mount of readdirSync("/sys/fs/cgroup")) {
    for (const dir of [
      `/sys/fs/cgroup/${mount}/bunker/${id}`,
      `/sys/fs/cgroup/${mount}/bunker.slice/${id}`,
    ]) {
      if (existsSync(dir)) left.push(dir);
    }
  }
  if (existsSync(`/sys/fs/cgroup/bunker.slice/${id}`)) left.push(`/sys/fs/cgroup/bunker.slice/${id}`);
  if (existsSync(join(tasksDir, id))) left.push(join(tasksDir, id));
  return left;
}

if (!isRoot) console.log("bunker run CLI tests skipped: they need root (uid 0) to run tasks");

describe.skipIf(!isRoot)("bunker run (the CLI, as root)", () => {
  afterAll(() => {
    // Whatever a failing run left, and only ours: cgroups named after our instance (their tasks are
    // gone, so they are empty and rmdir works), then our task directory.
    for (const mount of readdirSync("/sys/fs/cgroup")) {
      for (const parent of ["bunker", "bunker.slice"]) {
        const dir = `/sys/fs/cgroup/${mount}/${parent}`;
        const names = existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(`${instance}-`)) : [];
        for (const name of names) {
          try {
            rmdirSync(`${dir}/${name}`);
          } catch {
            // still busy: reported by the test that left it
          }
        }
      }
    }
    rmSync(tasksDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  test(
    "the acceptance command: a namespaced pid, the capability masks, NoNewPrivs",
    async () => {
      const r = await cli(["bunker", "run", "--", "/bin/sh", "-c", "echo $$; cat /proc/self/status"], {
        cmd: ["npx"],
      });
      expect(r.code).toBe(0);
      const [pid, ...status] = r.out.split("\n");
      // bunker-init is 1 in the task's PID namespace, the shell 2.
      expect(Number(pid)).toBeGreaterThan(0);
      expect(Number(pid)).toBeLessThan(10);
      const text = status.join("\n");
      expect(capLine(text, "CapBnd")).toBe(DEFAULT_MASK);
      for (const set of ["CapInh", "CapPrm", "CapEff", "CapAmb"]) expect(capLine(text, set)).toBe(0n);
      expect(text).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(text).toMatch(/^Uid:\s+65534\s/m);
    },
    TIMEOUT,
  );

  test(
    "the task's exit code is the CLI's",
    async () => {
      expect((await cli(["run", "--", "/bin/sh", "-c", "exit 3"])).code).toBe(3);
      expect((await cli(["run", "--", "/bin/true"])).code).toBe(0);
    },
    TIMEOUT,
  );

  test(
    "killed by signal N: 128+N",
    async () => {
      expect((await cli(["run", "--", "/bin/sh", "-c", "kill -TERM $$"])).code).toBe(143);
    },
    TIMEOUT,
  );

  test(
    "--timeout: 124 and one line saying so",
    async () => {
      const r = await cli(["run", "--timeout", "200ms", "--", "sleep", "5"]);
      expect(r.code).toBe(124);
      expect(oneLine(r.err)).toContain("timed out");
    },
    TIMEOUT,
  );

  test(
    "a missing command: 127 and one line naming it",
    async () => {
      const r = await cli(["run", "--", `no-such-command-${process.pid}`]);
      expect(r.code).toBe(127);
      expect(oneLine(r.err)).toContain(`no-such-command-${process.pid}`);
    },
    TIMEOUT,
  );

  test(
    "a command that is not executable: 126 and one line",
    async () => {
      const r = await cli(["run", "--", "/etc/passwd"]);
      expect(r.code).toBe(126);
      expect(oneLine(r.err)).toContain("/etc/passwd");
    },
    TIMEOUT,
  );

  const badFlags: [string, string[]][] = [
    ["an unknown flag", ["--bogus", "x", "--", "/bin/true"]],
    ["a bad --pid-mode", ["--pid-mode", "bad", "--", "/bin/true"]],
    ["a bad --ipc-mode", ["--ipc-mode", "shared", "--", "/bin/true"]],
    ["a non-numeric --memory", ["--memory", "abc", "--", "/bin/true"]],
    ["a zero --pids", ["--pids", "0", "--", "/bin/true"]],
    ["--env without =", ["--env", "noequals", "--", "/bin/true"]],
    ["a capability the plugin does not allow", ["--cap-add", "net_raw", "--", "/bin/true"]],
    ["an unknown capability", ["--cap-drop", "no_such_cap", "--", "/bin/true"]],
    ["--cpu with --cores", ["--cpu", "100", "--cores", "1", "--", "/bin/true"]],
    ["a bad --timeout", ["--timeout", "soon", "--", "/bin/true"]],
    ["a flag without its value", ["--memory"]],
    ["a flag given twice", ["--memory", "64", "--memory", "128", "--", "/bin/true"]],
    ["no command after --", ["--"]],
    ["no command at all", []],
  ];
  for (const [what, flags] of badFlags) {
    test(
      `exit 2 and one line for ${what}`,
      async () => {
        const r = await cli(["run", ...flags]);
        expect(r.code).toBe(2);
        expect(oneLine(r.err).length).toBeGreaterThan(0);
        expect(r.out).toBe("");
      },
      TIMEOUT,
    );
  }

  test(
    "--report writes the outcome as JSON",
    async () => {
      const report = join(dataDir, `report-${process.pid}.json`);
      const ok = await cli(["run", "--report", report, "--", "/bin/sh", "-c", "echo hi"]);
      expect(ok.code).toBe(0);
      const json = JSON.parse(readFileSync(report, "utf8"));
      expect(json).toMatchObject({ exit_code: 0, signal: null, reason: "exited" });
      for (const field of ["wall_ms", "cpu_user_ms", "cpu_system_ms", "memory_peak_bytes", "pids_peak"]) {
        expect(typeof json[field]).toBe("number");
        expect(json[field]).toBeGreaterThanOrEqual(0);
      }
      expect(json.wall_ms).toBeGreaterThan(0);
      expect(json.memory_peak_bytes).toBeGreaterThan(0);
      expect(json.pids_peak).toBeGreaterThanOrEqual(1);

      const killed = await cli(["run", "--report", report, "--", "/bin/sh", "-c", "kill -KILL $$"]);
      expect(killed.code).toBe(137);
      expect(JSON.parse(readFileSync(report, "utf8"))).toMatchObject({
        exit_code: 137,
        signal: 9,
        reason: "signaled",
      });

      const timedOut = await cli(["run", "--report", report, "--timeout", "100ms", "--", "sleep", "5"]);
      expect(timedOut.code).toBe(124);
      expect(JSON.parse(readFileSync(report, "utf8"))).toMatchObject({ exit_code: 124, reason: "timeout" });
    },
    TIMEOUT,
  );

  test(
    "stdin, stdout and stderr are the terminal's",
    async () => {
      const r = await cli(["run", "--", "/bin/sh", "-c", "cat; echo err >&2"], { stdin: "piped in\n" });
      expect(r.code).toBe(0);
      expect(r.out).toBe("piped in\n");
      expect(r.err).toBe("err\n");
    },
    TIMEOUT,
  );

  test(
    "flags reach the task: --env, --memory, --pids, --cap-add with --cap-drop",
    async () => {
      const r = await cli([
        "run",
        "--env",
        "GREETING=hello=world",
        "--memory",
        "64",
        "--pids",
        "7",
        "--cap-drop",
        "all",
        "--cap-add",
        "net_bind_service",
        "--",
        "/bin/sh",
        "-c",
        "echo $GREETING; grep -E '^Cap(Eff|Bnd)' /proc/self/status",
      ]);
      expect(r.code).toBe(0);
      const [greeting, eff, bnd] = r.out.trim().split("\n");
      expect(greeting).toBe("hello=world");
      expect(eff).toBe(`CapEff:\t${(1n << 10n).toString(16).padStart(16, "0")}`);
      expect(bnd).toBe(`CapBnd:\t${(1n << 10n).toString(16).padStart(16, "0")}`);
    },
    TIMEOUT,
  );

  test(
    "a run leaves no cgroup and no task directory behind",
    async () => {
      const r = await cli(["run", "--", "/bin/sh", "-c", "echo $NOMAD_ALLOC_ID"]);
      expect(r.code).toBe(0);
      const id = r.out.trim();
      expect(id).toMatch(/^[0-9a-z][0-9a-z-]*$/);
      expect(id.startsWith(`${instance}-`)).toBe(true);
      expect(leftoversOf(id)).toEqual([]);
    },
    TIMEOUT,
  );

  test(
    "without root: one line saying root is needed, a non-zero exit, nothing created",
    async () => {
      const dir = join(tmpdir(), `bunker-cli-nobody-${process.pid}`);
      const r = await cli(["run", "--", "/bin/true"], {
        cmd: ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", BIN],
        env: { BUNKER_DATA_DIR: dir },
      });
      expect(r.code).not.toBe(0);
      expect(oneLine(r.err)).toMatch(/must run as root/i);
      expect(existsSync(dir)).toBe(false);
    },
    TIMEOUT,
  );
});
