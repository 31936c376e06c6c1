/**
 * A task's life through the exec driver, on the real kernel (as root): exit
 * codes and signals, OOM and pids limits, timeouts that take the whole tree,
 * Nomad's stop, signal scopes, stdio, setup failures, and nothing left behind
 * (cgroups, mounts, task directories, processes, fds) after a thousand runs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCgroupManager } from "../../src/cgroup/index.ts";
import { parsePluginConfig, parseTask, type TaskInput } from "../../src/driver/config.ts";
import { createExecDriver } from "../../src/driver/exec.ts";
import type { Outcome } from "../../src/driver/types.ts";
import { BunkerError } from "../../src/errors.ts";

const isRoot = process.getuid?.() === 0;
const TIMEOUT = 30_000;

type Task = Partial<TaskInput> & { config: TaskInput["config"] };

const dataDir = mkdtempSync(join(tmpdir(), "bunker-lifecycle-"));
const plugin = parsePluginConfig({ max_kill_timeout: "10s" });
/**
 * A cgroup parent of our own: a Bunker server starting elsewhere on this host
 * reconciles (kills) everything under the default "bunker" parent.
 */
const cgroupParent = `bunker-test-lifecycle-${process.pid}`;
const cgroups = isRoot ? createCgroupManager({ parent: cgroupParent }) : undefined;
const driver = createExecDriver({ plugin, dataDir, ...(cgroups ? { cgroups } : {}) });
/** Where this driver keeps its task directories (<run dir>/<instance>). */
const tasksDir = driver.tasksRoot;

/** The task directories present now ([] before the first start made the directory). */
function taskDirs(): string[] {
  return existsSync(tasksDir) ? readdirSync(tasksDir) : [];
}
/** Ids of the tasks a test started; checked for leftovers after it. */
let started: string[] = [];

function spec(task: Task) {
  return parseTask({ name: `life-${process.pid}`, ...task }, plugin);
}

function sh(script: string, extra: Omit<Partial<TaskInput>, "config"> = {}, config = {}): Task {
  return { ...extra, config: { command: "/bin/sh", args: ["-c", script], ...config } };
}

async function start(task: Task, stdin: "null" | "pipe" = "null") {
  const handle = await driver.start(spec(task), { stdin, stdout: "pipe", stderr: "pipe" });
  started.push(handle.id);
  return handle;
}

async function run(task: Task): Promise<{ out: string; err: string; outcome: Outcome }> {
  const handle = await start(task);
  const [out, err, outcome] = await Promise.all([
    new Response(handle.stdout).text(),
    new Response(handle.stderr).text(),
    handle.wait(),
  ]);
  return { out, err, outcome };
}

/** Reads a stream into `text` as it arrives, so a test can wait for a line. */
class Lines {
  text = "";
  private closed = false;
  private wake: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        this.text += decoder.decode(chunk, { stream: true });
        this.notify();
      }
      this.closed = true;
      this.notify();
    })();
  }

  private notify() {
    for (const w of this.wake.splice(0)) w();
  }

  /** Resolves true once every line is there, false if the stream ends first. */
  async waitFor(...lines: string[]): Promise<boolean> {
    const has = () => lines.every((l) => this.text.split("\n").includes(l));
    while (!has()) {
      if (this.closed) return false;
      await new Promise<void>((resolve) => this.wake.push(resolve));
    }
    return true;
  }
}

/** Host pids whose command line contains `marker` (never this test process). */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(marker)) found.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Every trace a task could leave on the host, by its id; [] when there is none. */
function leftoversOf(id: string): string[] {
  const left: string[] = [];
  for (const mount of readdirSync("/sys/fs/cgroup")) {
    for (const parent of ["bunker", "bunker.slice", cgroupParent, `${cgroupParent}.slice`]) {
      const dir = `/sys/fs/cgroup/${mount}/${parent}/${id}`;
      if (existsSync(dir)) left.push(dir);
    }
  }
  for (const parent of ["bunker.slice", `${cgroupParent}.slice`]) {
    if (existsSync(`/sys/fs/cgroup/${parent}/${id}`)) left.push(`/sys/fs/cgroup/${parent}/${id}`);
  }
  if (existsSync(join(tasksDir, id))) left.push(join(tasksDir, id));
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    if (line.includes(id)) left.push(`mount: ${line}`);
  }
  return left;
}

/** Polls without asserting on time: gives up after `rounds` tries and lets the caller's expect fail. */
async function poll(cond: () => boolean, rounds = 300): Promise<boolean> {
  for (let i = 0; i < rounds && !cond(); i++) await Bun.sleep(10);
  return cond();
}

/**
 * Waits until the tasks' traces are gone (teardown runs after wait() resolves, off the caller's
 * path) and returns what is still there. Bounded polling rather than driver.drain(), so that one
 * task that never ends fails its own test instead of hanging every later one.
 */
async function settle(ids: readonly string[]): Promise<string[]> {
  await poll(() => ids.every((id) => leftoversOf(id).length === 0), 1500);
  return ids.flatMap(leftoversOf);
}

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Zombie children of this process (a reaper that forgot one leaves them). */
function zombies(): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z" && Number(fields[1]) === process.pid) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

if (!isRoot) console.log("lifecycle tests skipped: the exec driver needs root (uid 0)");

describe.skipIf(!isRoot)("task lifecycle (real tasks, as root)", () => {
  beforeAll(() => {
    const fp = driver.fingerprint();
    if (fp.health !== "healthy") throw new Error(`exec driver is ${fp.health}: ${fp.description}`);
  });

  afterEach(async () => {
    const ids = started;
    started = [];
    expect(await settle(ids)).toEqual([]);
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.race([driver.close(), Bun.sleep(10_000)]);
    // What a failing test left (task mounts live in the tasks' own namespaces, so this is plain files).
    rmSync(tasksDir, { recursive: true, force: true });
    await cgroups?.reconcile(new Set());
    for (const mount of readdirSync("/sys/fs/cgroup")) {
      for (const parent of [cgroupParent, `${cgroupParent}.slice`]) {
        try {
          rmdirSync(`/sys/fs/cgroup/${mount}/${parent}`);
        } catch {
          // Not every hierarchy got the parent.
        }
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }, TIMEOUT);

  describe("how a task ends", () => {
    test(
      "exit codes pass through",
      async () => {
        for (const code of [0, 3, 255]) {
          const { outcome } = await run(sh(`exit ${code}`));
          expect(outcome).toMatchObject({ reason: "exited", exitCode: code, signal: null });
        }
      },
      TIMEOUT,
    );

    test(
      "killed by a signal: 128+N",
      async () => {
        for (const [name, n] of [
          ["TERM", 15],
          ["SEGV", 11],
          ["KILL", 9],
        ] as const) {
          const { outcome } = await run(sh(`kill -${name} $$`));
          expect(outcome).toMatchObject({ reason: "signaled", exitCode: 128 + n, signal: n });
        }
      },
      TIMEOUT,
    );

    test(
      "a memory bomb over resources.memory is reported as oom",
      async () => {
        const { outcome } = await run({
          config: { command: "/usr/bin/tail", args: ["/dev/zero"] },
          resources: { memory: 32 },
        });
        expect(outcome.reason).toBe("oom");
        expect(outcome.exitCode).toBe(137);
        expect(outcome.usage.memoryPeakBytes).toBeGreaterThan(16 * 1024 * 1024);
        expect(outcome.usage.memoryPeakBytes).toBeLessThanOrEqual(32 * 1024 * 1024);
      },
      TIMEOUT,
    );

    test(
      "a fork bomb stops at resources.pids, and the task still ends",
      async () => {
        const marker = `bk-bomb-${process.pid}`;
        const limit = 16;
        const { outcome, err } = await run(
          sh(`bomb() { bomb | bomb & }; bomb; sleep 1; : ${marker}`, {
            resources: { pids: limit },
            timeout: "5s",
          }),
        );
        expect(["exited", "timeout"]).toContain(outcome.reason);
        expect(outcome.usage.pidsPeak).toBeGreaterThan(1);
        expect(outcome.usage.pidsPeak).toBeLessThanOrEqual(limit);
        expect(err).toMatch(/fork/i);
        expect(await poll(() => processesWith(marker).length === 0)).toBe(true);
      },
      TIMEOUT,
    );

    test(
      "a timeout that fires before the task is under way still ends with an outcome",
      async () => {
        const reasons: string[] = [];
        for (let i = 0; i < 40; i++) {
          const handle = await start({ config: { command: "/bin/true" }, timeout: 1 });
          void new Response(handle.stdout).text();
          void new Response(handle.stderr).text();
          // A liveness bound, not a speed check: a task killed at once ends in milliseconds.
          const outcome = await Promise.race([handle.wait(), Bun.sleep(10_000).then(() => null)]);
          reasons.push(outcome?.reason ?? `no outcome (task ${handle.id})`);
          if (!outcome) break;
        }
        expect(reasons.filter((r) => r !== "timeout" && r !== "exited")).toEqual([]);
      },
      TIMEOUT,
    );

    for (const pidMode of ["private", "host"] as const) {
      test(
        `a timeout kills the task and its children (pid_mode ${pidMode}): 124`,
        async () => {
          const marker = `bk-timeout-${pidMode}-${process.pid}`;
          const child = `/bin/sh -c 'sleep 1000; echo ${marker}'`;
          // The timeout only has to outlast the test's look at the processes, which a loaded CI
          // machine has stretched past 3 s (a /proc scan waits on processes mid-exec).
          const handle = await start(
            sh(`${child} & ${child} & echo ready; wait`, { timeout: "6s" }, { pid_mode: pidMode }),
          );
          const out = new Lines(handle.stdout!);
          const errText = new Response(handle.stderr).text();
          expect(await out.waitFor("ready")).toBe(true);
          // The main shell and both children carry the marker (once the children's execs are done).
          expect(await poll(() => processesWith(marker).length >= 3)).toBe(true);
          const outcome = await handle.wait();
          await Promise.all([out.done, errText]);
          expect(outcome).toMatchObject({ reason: "timeout", exitCode: 124 });
          expect(await poll(() => processesWith(marker).length === 0)).toBe(true);
        },
        TIMEOUT,
      );
    }
  });

  describe("stop and signals", () => {
    test(
      "stop() sends kill_signal; a task that handles it ends on its own terms",
      async () => {
        const handle = await start(
          sh("trap 'exit 7' INT; echo ready; while :; do sleep 0.1; done", { kill_timeout: "10s" }),
        );
        const out = new Lines(handle.stdout!);
        void new Response(handle.stderr).text();
        expect(await out.waitFor("ready")).toBe(true);
        const outcome = await handle.stop();
        expect(outcome).toMatchObject({ reason: "stopped", exitCode: 7, signal: null });
      },
      TIMEOUT,
    );

    test(
      "stop() uses the task's kill_signal",
      async () => {
        const handle = await start(
          sh("trap 'exit 8' TERM; trap '' INT; echo ready; while :; do sleep 0.1; done", {
            kill_signal: "SIGTERM",
            kill_timeout: "10s",
          }),
        );
        const out = new Lines(handle.stdout!);
        void new Response(handle.stderr).text();
        expect(await out.waitFor("ready")).toBe(true);
        expect(await handle.stop()).toMatchObject({ reason: "stopped", exitCode: 8 });
      },
      TIMEOUT,
    );

    test(
      "stop() on a task that ignores kill_signal: SIGKILL after kill_timeout",
      async () => {
        const marker = `bk-stop-${process.pid}`;
        const handle = await start(
          sh(
            `trap '' INT; /bin/sh -c 'trap "" INT; sleep 1000; : ${marker}' & echo ready; while :; do sleep 0.1; done`,
            {
              kill_timeout: "300ms",
            },
          ),
        );
        const out = new Lines(handle.stdout!);
        void new Response(handle.stderr).text();
        expect(await out.waitFor("ready")).toBe(true);
        const outcome = await handle.stop();
        expect(outcome).toMatchObject({ reason: "stopped", exitCode: 137, signal: 9 });
        expect(await poll(() => processesWith(marker).length === 0)).toBe(true);
      },
      TIMEOUT,
    );

    /**
     * Three shells: main (the task), grp (a background child in main's process
     * group) and sess (a child in a session of its own). Each echoes the signals
     * it gets; TERM makes it exit. USR1 goes to one scope, then TERM to all: a
     * shell that prints "who:TERM" without "who:USR1" never got USR1 (dash runs
     * pending traps in signal-number order, USR1 before TERM).
     */
    const scopeScript = [
      "trap 'echo main:USR1' USR1",
      "trap 'echo main:TERM; wait; exit 0' TERM",
      `sh -c 'trap "echo grp:USR1" USR1; trap "echo grp:TERM; exit 0" TERM; echo grp:ready; while :; do sleep 0.05; done' &`,
      `setsid sh -c 'trap "echo sess:USR1" USR1; trap "echo sess:TERM; exit 0" TERM; echo sess:ready; while :; do sleep 0.05; done' &`,
      "echo main:ready",
      "while :; do sleep 0.05; done",
    ].join("\n");
    const expected: Record<"main" | "group" | "all", string[]> = {
      main: ["main"],
      group: ["main", "grp"],
      all: ["main", "grp", "sess"],
    };

    for (const scope of ["main", "group", "all"] as const) {
      test(
        `signal(USR1, "${scope}") reaches ${expected[scope].join(", ")}`,
        async () => {
          const handle = await start(sh(scopeScript));
          const out = new Lines(handle.stdout!);
          void new Response(handle.stderr).text();
          expect(await out.waitFor("main:ready", "grp:ready", "sess:ready")).toBe(true);
          handle.signal("SIGUSR1", scope);
          expect(await out.waitFor(...expected[scope].map((w) => `${w}:USR1`))).toBe(true);
          handle.signal("SIGTERM", "all");
          const outcome = await handle.wait();
          await out.done;
          expect(outcome).toMatchObject({ reason: "exited", exitCode: 0 });
          const lines = out.text.split("\n");
          for (const who of ["main", "grp", "sess"]) {
            expect(lines).toContain(`${who}:TERM`);
            expect(lines.includes(`${who}:USR1`)).toBe(expected[scope].includes(who));
          }
        },
        TIMEOUT,
      );
    }

    test(
      "an unknown signal name throws; signalling an ended task is harmless",
      async () => {
        const handle = await start(sh("exit 0"));
        void new Response(handle.stdout).text();
        void new Response(handle.stderr).text();
        expect(() => handle.signal("SIGNOPE")).toThrow(BunkerError);
        await handle.wait();
        handle.signal("SIGTERM", "all");
        expect(await handle.stop()).toMatchObject({ reason: "exited", exitCode: 0 });
      },
      TIMEOUT,
    );
  });

  describe("a prepared slot", () => {
    /** /proc/<pid>/status fields of bunker-init's only child: the task's process, waiting. */
    function waitingProcess(initPid: number): Record<string, string> {
      const child = readFileSync(`/proc/${initPid}/task/${initPid}/children`, "utf8").trim();
      expect(child).toMatch(/^\d+$/);
      const status = readFileSync(`/proc/${child}/status`, "utf8");
      return Object.fromEntries(status.split("\n").map((l) => l.split(/:\s*/, 2) as [string, string]));
    }

    test(
      "before launch its task process already runs as the task's user and caps, every signal blocked",
      async () => {
        const prepared = await driver.prepare(spec(sh("exit 0")));
        started.push(prepared.id);
        // The identity is taken right after the clone; give the fork a moment.
        let status: Record<string, string> = {};
        expect(
          await poll(() => {
            try {
              status = waitingProcess(prepared.pid);
            } catch {
              return false;
            }
            return status.Uid?.startsWith("65534") === true;
          }),
        ).toBe(true);
        expect(status.Gid).toMatch(/^65534\s/);
        expect(status.CapEff).toBe("0000000000000000");
        expect(status.CapPrm).toBe("0000000000000000");
        expect(status.NoNewPrivs).toBe("1");
        // SIGKILL and SIGSTOP cannot be blocked; everything else is, until exec.
        expect(BigInt(`0x${status.SigBlk}`) | (1n << 8n) | (1n << 18n)).toBe(0xffffffffffffffffn);
        const handle = prepared.launch({ stdout: "pipe", stderr: "pipe" });
        void new Response(handle.stdout).text();
        void new Response(handle.stderr).text();
        expect(await handle.wait()).toMatchObject({ reason: "exited", exitCode: 0 });
      },
      TIMEOUT,
    );

    test(
      "a signal sent the moment it is launched is not lost",
      async () => {
        const prepared = await driver.prepare(spec(sh("sleep 30")));
        started.push(prepared.id);
        const handle = prepared.launch({ stdout: "pipe", stderr: "pipe" });
        handle.signal("SIGTERM");
        void new Response(handle.stdout).text();
        void new Response(handle.stderr).text();
        expect(await handle.wait()).toMatchObject({ reason: "signaled", exitCode: 143, signal: 15 });
      },
      TIMEOUT,
    );
  });

  describe("stdio", () => {
    test(
      "stdin pipe round trip through cat",
      async () => {
        const handle = await start({ config: { command: "/bin/cat" } }, "pipe");
        const out = new Response(handle.stdout).text();
        void new Response(handle.stderr).text();
        await handle.stdin!.write(new TextEncoder().encode("hello "));
        await handle.stdin!.write(new TextEncoder().encode("stdin\n"));
        await handle.stdin!.end();
        expect(await out).toBe("hello stdin\n");
        expect(await handle.wait()).toMatchObject({ reason: "exited", exitCode: 0 });
      },
      TIMEOUT,
    );

    test(
      "several MB through stdin and back (back-pressure both ways)",
      async () => {
        const handle = await start({ config: { command: "/bin/cat" } }, "pipe");
        const out = new Response(handle.stdout).arrayBuffer();
        void new Response(handle.stderr).text();
        const chunk = new Uint8Array(64 * 1024);
        for (let i = 0; i < chunk.length; i++) chunk[i] = i % 251;
        const rounds = 64; // 4 MiB
        for (let i = 0; i < rounds; i++) await handle.stdin!.write(chunk);
        await handle.stdin!.end();
        const bytes = new Uint8Array(await out);
        expect(bytes.byteLength).toBe(chunk.byteLength * rounds);
        expect(bytes.subarray(bytes.byteLength - chunk.byteLength)).toEqual(chunk);
        expect((await handle.wait()).exitCode).toBe(0);
      },
      TIMEOUT,
    );

    test(
      "a large stdout (several MB) arrives complete and in order; stderr is separate",
      async () => {
        const { out, err, outcome } = await run(sh("seq 1 1000000; echo to-stderr >&2"));
        expect(outcome.exitCode).toBe(0);
        expect(out.length).toBeGreaterThan(6_000_000);
        const expectedOut = `${Array.from({ length: 1_000_000 }, (_, i) => i + 1).join("\n")}\n`;
        expect(out === expectedOut).toBe(true);
        expect(err).toBe("to-stderr\n");
      },
      TIMEOUT,
    );
  });

  describe("setup failures", () => {
    test(
      "a non-executable command (a host file behind a read-only bind): 126, setup_failed",
      async () => {
        const { outcome } = await run({ config: { command: "/etc/passwd" } });
        expect(outcome).toMatchObject({ reason: "setup_failed", exitCode: 126 });
        expect(outcome.error).toContain("EACCES");
      },
      TIMEOUT,
    );

    test(
      "a missing command is refused before anything starts (the CLI's 127), leaving nothing",
      async () => {
        const before = taskDirs();
        const err = await driver.start(spec({ config: { command: `no-such-command-${process.pid}` } })).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(BunkerError);
        expect((err as BunkerError).code).toBe("not_found");
        await poll(() => taskDirs().length === before.length);
        expect(taskDirs()).toEqual(before);
        expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(`${tasksDir}/`);
      },
      TIMEOUT,
    );

    test(
      "a root step that fails in the child (a file bound onto a directory) is setup_failed, leaving nothing",
      async () => {
        const badPlugin = parsePluginConfig({
          chroot_env: {
            "/bin": "/bin",
            "/lib": "/lib",
            "/lib64": "/lib64",
            "/usr": "/usr",
            "/etc/passwd": "/local",
          },
        });
        const bad = createExecDriver({ plugin: badPlugin, dataDir, ...(cgroups ? { cgroups } : {}) });
        const before = taskDirs();
        const started = await bad
          .start(parseTask({ config: { command: "/bin/true" } }, badPlugin), {
            stdout: "null",
            stderr: "null",
          })
          .then(
            (handle) => ({ handle, error: null }),
            (err: unknown) => ({ handle: null, error: err instanceof Error ? err.message : String(err) }),
          );
        // The failure belongs in the Outcome, like any other setup failure, not in a throw from start().
        expect(started.error).toBeNull();
        if (started.handle) {
          const outcome = await started.handle.wait();
          expect(outcome.reason).toBe("setup_failed");
          expect(outcome.error).toContain("/etc/passwd");
          expect(outcome.error).toContain("ENOTDIR");
        }
        await poll(() => taskDirs().length === before.length);
        expect(taskDirs()).toEqual(before);
      },
      TIMEOUT,
    );

    test.skipIf(!isRoot)(
      "a cgroup parent removed while the driver runs is made again by the next start",
      async () => {
        expect((await run(sh("exit 0"))).outcome.reason).toBe("exited");
        // Every task ended and was torn down: the parents are empty and can go.
        await driver.drain();
        const gone = readdirSync("/sys/fs/cgroup")
          .flatMap((mount) =>
            [cgroupParent, `${cgroupParent}.slice`].map((n) => `/sys/fs/cgroup/${mount}/${n}`),
          )
          .filter((dir) => existsSync(dir));
        expect(gone.length).toBeGreaterThan(0);
        for (const dir of gone) rmdirSync(dir);
        // The server makes every task cgroup, finds a parent gone and makes it again.
        expect((await run(sh("exit 0"))).outcome).toMatchObject({ reason: "exited", exitCode: 0 });
        for (const dir of gone) expect(existsSync(dir)).toBe(true);
      },
      TIMEOUT,
    );

    test.skipIf(!isRoot)(
      "a limit the kernel refuses (more cores than the host has) fails the start naming the file, leaving nothing",
      async () => {
        const before = taskDirs();
        const err = await driver
          .start(spec({ config: { command: "/bin/true" }, resources: { cores: 512 } }))
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(err).toBeInstanceOf(BunkerError);
        expect(String(err)).toContain("cpuset.cpus");
        await driver.drain();
        expect(taskDirs()).toEqual(before);
        expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(`${tasksDir}/`);
      },
      TIMEOUT,
    );

    test(
      "a work_dir that does not exist fails in setup with the step named",
      async () => {
        const { outcome } = await run({ config: { command: "/bin/true", work_dir: "/no/such/dir" } });
        expect(outcome.reason).toBe("setup_failed");
        expect(outcome.error).toContain("work_dir");
        expect(outcome.error).toContain("ENOENT");
      },
      TIMEOUT,
    );
  });

  describe("nothing left behind", () => {
    test("1,000 runs of /bin/true, 4 at a time: no cgroup, mount, task dir, zombie or fd left", async () => {
      const fdsBefore = openFds();
      const dirsBefore = taskDirs();
      const zombiesBefore = zombies();
      const task = spec({ config: { command: "/bin/true" } });
      const ids: string[] = [];
      const outcomes: Outcome[] = [];
      let next = 0;
      const worker = async () => {
        while (next < 1000) {
          next++;
          const handle = await driver.start(task, { stdin: "null", stdout: "null", stderr: "null" });
          ids.push(handle.id);
          outcomes.push(await handle.wait());
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      const left = await settle(ids);
      expect(outcomes).toHaveLength(1000);
      expect(outcomes.filter((o) => o.reason !== "exited" || o.exitCode !== 0)).toEqual([]);
      expect(new Set(ids).size).toBe(1000);
      expect(left).toEqual([]);
      expect(taskDirs().filter((d) => !dirsBefore.includes(d))).toEqual([]);
      expect(zombies().filter((z) => !zombiesBefore.includes(z))).toEqual([]);
      // A leak of one fd per task would show as +1000.
      expect(openFds()).toBeLessThanOrEqual(fdsBefore + 8);
    }, 240_000);

    test(
      "after failures too (setup failure, oom, timeout, stop)",
      async () => {
        const dirsBefore = taskDirs();
        const zombiesBefore = zombies();
        await run({ config: { command: "/etc/passwd" } });
        await run({ config: { command: "/usr/bin/tail", args: ["/dev/zero"] }, resources: { memory: 32 } });
        await run(sh("sleep 1000 & sleep 1000", { timeout: "200ms" }));
        const handle = await start(sh("sleep 1000"));
        void new Response(handle.stdout).text();
        void new Response(handle.stderr).text();
        await handle.stop({ signal: "SIGKILL" });
        expect(started).toHaveLength(4);
        expect(await settle(started)).toEqual([]);
        expect(taskDirs().filter((d) => !dirsBefore.includes(d))).toEqual([]);
        expect(zombies().filter((z) => !zombiesBefore.includes(z))).toEqual([]);
      },
      TIMEOUT,
    );
  });
});
