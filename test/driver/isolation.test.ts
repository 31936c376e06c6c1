/**
 * What a task can see and do, proved from inside real tasks (as root, on the
 * real kernel): namespaces, root, capabilities, fds, environment, /proc, /sys
 * and /dev. Expected values are computed here from first principles (capability
 * numbers of <linux/capability.h>, the host's own /proc), never by asking the
 * code under test.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCgroupManager } from "../../src/cgroup/index.ts";
import { parsePluginConfig, parseTask, type TaskInput } from "../../src/driver/config.ts";
import { createExecDriver, type ExecDriver } from "../../src/driver/exec.ts";
import type { Outcome } from "../../src/driver/types.ts";

const isRoot = process.getuid?.() === 0;
const TIMEOUT = 30_000;

/** Capability numbers straight from <linux/capability.h>. */
const CAP = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  NET_BIND_SERVICE: 10,
  NET_RAW: 13,
  SYS_CHROOT: 18,
  MKNOD: 27,
  AUDIT_WRITE: 29,
  SETFCAP: 31,
} as const;

/** Nomad's default set (Docker's minus NET_RAW), as a mask. */
const DEFAULT_MASK = [
  CAP.AUDIT_WRITE,
  CAP.CHOWN,
  CAP.DAC_OVERRIDE,
  CAP.FOWNER,
  CAP.FSETID,
  CAP.KILL,
  CAP.MKNOD,
  CAP.NET_BIND_SERVICE,
  CAP.SETFCAP,
  CAP.SETGID,
  CAP.SETPCAP,
  CAP.SETUID,
  CAP.SYS_CHROOT,
].reduce((mask, n) => mask | (1n << BigInt(n)), 0n);

const bit = (n: number) => 1n << BigInt(n);

interface Ran {
  out: string;
  err: string;
  outcome: Outcome;
}

const dataDir = mkdtempSync(join(tmpdir(), "bunker-isolation-"));
/** A host directory bound into some tasks, to prove host files stay untouched. */
const hostDir = mkdtempSync(join(tmpdir(), "bunker-isolation-host-"));
const hostFile = join(hostDir, "keep.txt");
const drivers = new Map<string, ExecDriver>();
/** A cgroup parent of our own: a Bunker server starting on this host reconciles the default one. */
const cgroupParent = `bunker-test-isolation-${process.pid}`;
const cgroups = isRoot ? createCgroupManager({ parent: cgroupParent }) : undefined;

function driverFor(pluginInput: Record<string, unknown>): {
  driver: ExecDriver;
  plugin: ReturnType<typeof parsePluginConfig>;
} {
  const plugin = parsePluginConfig({ allow_root: true, ...pluginInput });
  const key = JSON.stringify(pluginInput);
  let driver = drivers.get(key);
  if (!driver) {
    driver = createExecDriver({ plugin, dataDir, ...(cgroups ? { cgroups } : {}) });
    drivers.set(key, driver);
  }
  return { driver, plugin };
}

async function run(task: Task, pluginInput = {}): Promise<Ran> {
  const { driver, plugin } = driverFor(pluginInput);
  const spec = parseTask({ name: `iso-${process.pid}`, ...task }, plugin);
  const handle = await driver.start(spec, { stdin: "null", stdout: "pipe", stderr: "pipe" });
  const [out, err, outcome] = await Promise.all([
    new Response(handle.stdout).text(),
    new Response(handle.stderr).text(),
    handle.wait(),
  ]);
  return { out, err, outcome };
}

type Task = Partial<TaskInput> & { config: TaskInput["config"] };

/** `sh -c script`, with more task fields and driver config fields. */
function sh(script: string, extra: Omit<Partial<TaskInput>, "config"> = {}, config = {}): Task {
  return { ...extra, config: { command: "/bin/sh", args: ["-c", script], ...config } };
}

/** The Cap* lines of a /proc/<pid>/status text as masks. */
function capsOf(status: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const m of status.matchAll(/^(Cap\w+):\s+([0-9a-f]+)$/gm)) out[m[1]!] = BigInt(`0x${m[2]}`);
  return out;
}

function statusField(status: string, field: string): string | undefined {
  return status.match(new RegExp(`^${field}:\\s+(.*)$`, "m"))?.[1];
}

const hostIpcNs = readlinkSync("/proc/self/ns/ipc");

if (!isRoot) console.log("isolation tests skipped: the exec driver needs root (uid 0)");

describe.skipIf(!isRoot)("task isolation (real tasks, as root)", () => {
  beforeAll(() => {
    writeFileSync(hostFile, "original\n");
    const fp = driverFor({}).driver.fingerprint();
    if (fp.health !== "healthy") throw new Error(`exec driver is ${fp.health}: ${fp.description}`);
  });

  afterAll(async () => {
    // Bounded: teardown runs after wait(); a task that never ends must not hang the suite.
    await Promise.race([Promise.all([...drivers.values()].map((d) => d.close())), Bun.sleep(10_000)]);
    // What a failing test left (task mounts live in the tasks' own namespaces, so this is plain files).
    for (const d of drivers.values()) rmSync(d.tasksRoot, { recursive: true, force: true });
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
    rmSync(hostDir, { recursive: true, force: true });
  }, TIMEOUT);

  describe("namespaces", () => {
    test(
      "own PID namespace: the task is pid 2 under init, host pids are invisible",
      async () => {
        const r = await run(
          sh(`echo $$; ls /proc | grep -E '^[0-9]+$'; [ -e /proc/${process.pid} ] && echo SEEN`),
        );
        expect(r.outcome.reason).toBe("exited");
        const [self, ...pids] = r.out.trim().split("\n");
        // bunker-init is 1, the shell its first child.
        expect(Number(self)).toBe(2);
        for (const p of pids) expect(Number(p)).toBeLessThan(10);
        expect(r.out).not.toContain("SEEN");
        expect(existsSync(`/proc/${process.pid}`)).toBe(true);
      },
      TIMEOUT,
    );

    test(
      "own IPC namespace: a different ipc inode than the host",
      async () => {
        const r = await run({ config: { command: "/bin/readlink", args: ["/proc/self/ns/ipc"] } });
        expect(r.out.trim()).toMatch(/^ipc:\[\d+\]$/);
        expect(r.out.trim()).not.toBe(hostIpcNs);
      },
      TIMEOUT,
    );

    test(
      "own UTS namespace: hostname is the task name, the host's is unchanged",
      async () => {
        const hostBefore = readFileSync("/proc/sys/kernel/hostname", "utf8");
        const name = `iso-uts-${process.pid}`;
        const r = await run({ name, config: { command: "/bin/hostname" } });
        expect(r.out.trim()).toBe(name);
        expect(readFileSync("/proc/sys/kernel/hostname", "utf8")).toBe(hostBefore);
      },
      TIMEOUT,
    );

    test(
      "pid_mode host: the task sees host pids",
      async () => {
        const r = await run(
          sh(`echo $$; [ -e /proc/${process.pid} ] && echo SEEN`, {}, { pid_mode: "host" }),
        );
        const [self] = r.out.trim().split("\n");
        expect(Number(self)).toBeGreaterThan(2);
        expect(r.out).toContain("SEEN");
      },
      TIMEOUT,
    );

    test(
      "ipc_mode host: the host's ipc namespace",
      async () => {
        const r = await run({
          config: { command: "/bin/readlink", args: ["/proc/self/ns/ipc"], ipc_mode: "host" },
        });
        expect(r.out.trim()).toBe(hostIpcNs);
      },
      TIMEOUT,
    );
  });

  describe("root filesystem", () => {
    test(
      "modes are exact and the task gets the server's umask, not the zero one its root was built with",
      async () => {
        const r = await run(sh("umask; stat -c '%a %n' /tmp /secrets /dev /dev/shm /dev/null /local"));
        const serverUmask = process.umask();
        const [mask, ...modes] = r.out.trim().split("\n");
        expect(Number.parseInt(mask ?? "", 8)).toBe(serverUmask);
        expect(modes).toEqual([
          "1777 /tmp",
          "700 /secrets",
          "755 /dev",
          "1777 /dev/shm",
          "666 /dev/null",
          "755 /local",
        ]);
      },
      TIMEOUT,
    );

    test(
      "the root holds the task dir layout and the chroot_env binds",
      async () => {
        const r = await run({ config: { command: "/bin/ls", args: ["-1a", "/"] } });
        const entries = new Set(r.out.trim().split("\n"));
        for (const e of ["local", "alloc", "tmp", "secrets", "dev", "proc", "sys", "usr", "etc", "bin"]) {
          expect(entries.has(e)).toBe(true);
        }
        // Nothing of the host beyond chroot_env: not the repo, not the host's /root or /home.
        for (const e of ["work", "root", "home", "var", "opt"]) expect(entries.has(e)).toBe(false);
      },
      TIMEOUT,
    );

    test(
      "local/ and tmp/ are writable by the task user; /usr and /etc are read-only",
      async () => {
        const r = await run(
          sh(
            "touch /local/a && echo local-ok; touch /tmp/a && echo tmp-ok; " +
              "touch /usr/bk-probe 2>/dev/null || echo usr-ro; touch /etc/bk-probe 2>/dev/null || echo etc-ro",
          ),
        );
        expect(r.out.split("\n").filter(Boolean)).toEqual(["local-ok", "tmp-ok", "usr-ro", "etc-ro"]);
      },
      TIMEOUT,
    );

    for (const user of ["nobody", "root"]) {
      test(
        `a ${user} task cannot change host files through its binds`,
        async () => {
          const probe = `bk-iso-probe-${process.pid}-${user}`;
          const chroot_env = {
            "/bin": "/bin",
            "/etc": "/etc",
            "/lib": "/lib",
            "/lib64": "/lib64",
            "/usr": "/usr",
            [hostDir]: "/hostdata",
          };
          try {
            const r = await run(
              sh(
                `echo changed > /hostdata/keep.txt; echo $? ; rm -f /hostdata/keep.txt; echo $?; ` +
                  `touch /etc/${probe}; echo $?; touch /usr/${probe}; echo $?; mount -o remount,rw /usr 2>/dev/null; echo $?`,
                { user },
              ),
              { chroot_env },
            );
            expect(r.outcome.reason).toBe("exited");
            // Every write attempt fails (non-zero status) ...
            const codes = r.out.trim().split("\n").map(Number);
            expect(codes).toHaveLength(5);
            for (const c of codes) expect(c).not.toBe(0);
            // ... and the host sees no change.
            expect(readFileSync(hostFile, "utf8")).toBe("original\n");
            expect(existsSync(`/etc/${probe}`)).toBe(false);
            expect(existsSync(`/usr/${probe}`)).toBe(false);
          } finally {
            rmSync(`/etc/${probe}`, { force: true });
            rmSync(`/usr/${probe}`, { force: true });
          }
        },
        TIMEOUT,
      );
    }

    test(
      "no_pivot_root: chroot still gives the isolated root",
      async () => {
        const r = await run(
          sh(
            `ls -1a /; echo PIDS; ls /proc | grep -E '^[0-9]+$'; [ -e /proc/${process.pid} ] && echo SEEN; cd /..; ls -1a .`,
          ),
          { no_pivot_root: true },
        );
        expect(r.outcome.reason).toBe("exited");
        const [rootList, rest = ""] = r.out.split("PIDS\n");
        const entries = new Set(rootList!.trim().split("\n"));
        for (const e of ["local", "alloc", "tmp", "secrets", "dev", "proc"])
          expect(entries.has(e)).toBe(true);
        expect(entries.has("work")).toBe(false);
        expect(rest).not.toContain("SEEN");
        // "/.." is "/" in a chroot: the same listing again, not the host's root.
        expect(rest).not.toContain("work");
      },
      TIMEOUT,
    );
  });

  describe("capabilities", () => {
    const status = async (task: Partial<TaskInput>, pluginInput = {}) => {
      const r = await run(
        { ...task, config: { command: "/bin/cat", args: ["/proc/self/status"], ...task.config } },
        pluginInput,
      );
      expect(r.outcome.reason).toBe("exited");
      return r.out;
    };

    test(
      "default, as nobody: bounding = default set, nothing effective",
      async () => {
        const out = await status({});
        expect(statusField(out, "Uid")?.split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
        expect(capsOf(out)).toEqual({ CapInh: 0n, CapPrm: 0n, CapEff: 0n, CapBnd: DEFAULT_MASK, CapAmb: 0n });
      },
      TIMEOUT,
    );

    test(
      "cap_add NET_BIND_SERVICE as nobody: only that bit is ambient/effective",
      async () => {
        const out = await status({ config: { command: "/bin/cat", cap_add: ["NET_BIND_SERVICE"] } });
        const b = bit(CAP.NET_BIND_SERVICE);
        expect(capsOf(out)).toEqual({ CapInh: b, CapPrm: b, CapEff: b, CapBnd: DEFAULT_MASK | b, CapAmb: b });
      },
      TIMEOUT,
    );

    test(
      "cap_add NET_RAW (allowed by the plugin) as nobody: bounding = default + NET_RAW",
      async () => {
        const allow_caps = [
          "audit_write",
          "chown",
          "dac_override",
          "fowner",
          "fsetid",
          "kill",
          "mknod",
        ].concat(["net_bind_service", "setfcap", "setgid", "setpcap", "setuid", "sys_chroot", "net_raw"]);
        const out = await status({ config: { command: "/bin/cat", cap_add: ["net_raw"] } }, { allow_caps });
        const b = bit(CAP.NET_RAW);
        expect(capsOf(out)).toEqual({ CapInh: b, CapPrm: b, CapEff: b, CapBnd: DEFAULT_MASK | b, CapAmb: b });
      },
      TIMEOUT,
    );

    test(
      'cap_drop ["all"]: every set is empty',
      async () => {
        const out = await status({ config: { command: "/bin/cat", cap_drop: ["all"] } });
        expect(capsOf(out)).toEqual({ CapInh: 0n, CapPrm: 0n, CapEff: 0n, CapBnd: 0n, CapAmb: 0n });
      },
      TIMEOUT,
    );

    test(
      "root task (allow_root): effective = permitted = bounding = default set, no inheritable/ambient",
      async () => {
        const out = await status({ user: "root" });
        expect(statusField(out, "Uid")?.split(/\s+/)).toEqual(["0", "0", "0", "0"]);
        expect(capsOf(out)).toEqual({
          CapInh: 0n,
          CapPrm: DEFAULT_MASK,
          CapEff: DEFAULT_MASK,
          CapBnd: DEFAULT_MASK,
          CapAmb: 0n,
        });
      },
      TIMEOUT,
    );

    test(
      "NoNewPrivs is set, for nobody and for root",
      async () => {
        expect(statusField(await status({}), "NoNewPrivs")).toBe("1");
        expect(statusField(await status({ user: "root" }), "NoNewPrivs")).toBe("1");
      },
      TIMEOUT,
    );
  });

  describe("what the task inherits", () => {
    test(
      "only fds 0-2 are open (seen from inside)",
      async () => {
        // The glob opens the directory while it expands; [ -e ] runs after, when only real fds remain.
        const r = await run(sh('for f in /proc/self/fd/*; do [ -e "$f" ] && echo "$f"; done'));
        expect(r.out.trim().split("\n")).toEqual(["/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2"]);
      },
      TIMEOUT,
    );

    test(
      "only fds 0-2 are open (seen from the host, on the running main process)",
      async () => {
        const { driver, plugin } = driverFor({});
        const spec = parseTask(
          {
            name: `iso-${process.pid}`,
            config: { command: "/bin/sh", args: ["-c", "echo ready; exec sleep 60"] },
          },
          plugin,
        );
        const handle = await driver.start(spec, { stdin: "null", stdout: "pipe", stderr: "null" });
        try {
          const reader = handle.stdout!.getReader();
          await reader.read();
          reader.releaseLock();
          const children = readFileSync(`/proc/${handle.pid}/task/${handle.pid}/children`, "utf8").trim();
          const main = Number(children.split(" ")[0]);
          // "ready" comes from the shell; look once sleep is asleep: while exec'd but still in
          // the dynamic loader it briefly holds a library open as fd 3.
          const asleep = () => {
            const nr = readFileSync(`/proc/${main}/syscall`, "utf8").split(" ")[0];
            return readlinkSync(`/proc/${main}/exe`).endsWith("/sleep") && (nr === "230" || nr === "35");
          };
          while (!asleep()) await Bun.sleep(5);
          const fds = readdirNumbers(`/proc/${main}/fd`);
          expect(fds).toEqual([0, 1, 2]);
          // The reaper holds only stdio and the status pipe.
          expect(readdirNumbers(`/proc/${handle.pid}/fd`)).toEqual([0, 1, 2, 3]);
        } finally {
          await handle.stop({ signal: "SIGKILL" });
          await handle.stdout?.cancel().catch(() => undefined);
        }
      },
      TIMEOUT,
    );

    test(
      "environment: the task's own plus Nomad's, nothing of the server",
      async () => {
        const marker = `BUNKER_TEST_LEAK_${process.pid}`;
        process.env[marker] = "must-not-leak";
        try {
          const r = await run({ env: { MINE: "yes" }, config: { command: "/usr/bin/env" } });
          const env = Object.fromEntries(
            r.out
              .trim()
              .split("\n")
              .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
          );
          expect(env[marker]).toBeUndefined();
          expect(env).toMatchObject({
            MINE: "yes",
            NOMAD_TASK_DIR: "/local",
            NOMAD_ALLOC_DIR: "/alloc",
            NOMAD_SECRETS_DIR: "/secrets",
            USER: "nobody",
          });
          const allowed = new Set(["PATH", "HOME", "USER", "MINE"]);
          for (const key of Object.keys(env)) expect(allowed.has(key) || key.startsWith("NOMAD_")).toBe(true);
        } finally {
          delete process.env[marker];
        }
      },
      TIMEOUT,
    );
  });

  describe("/proc, /sys and /dev", () => {
    test(
      "kcore, keys and timer_list are masked where the kernel has them",
      async () => {
        const masked = ["kcore", "keys", "timer_list"].filter((f) => existsSync(`/proc/${f}`));
        if (masked.length === 0)
          console.log("no maskable /proc file on this kernel: mask test checks nothing");
        const r = await run(
          sh(masked.map((f) => `[ -c /proc/${f} ] && echo ${f}:$(wc -c < /proc/${f})`).join("; ")),
        );
        expect(r.out.trim().split("\n").filter(Boolean)).toEqual(masked.map((f) => `${f}:0`));
      },
      TIMEOUT,
    );

    test(
      "a root task cannot write /proc/sys, /proc/sysrq-trigger or /sys",
      async () => {
        const r = await run(
          sh(
            "echo bk-probe > /proc/sys/kernel/hostname 2>/dev/null; echo $?; " +
              "echo h > /proc/sysrq-trigger 2>/dev/null; echo $?; " +
              "touch /sys/bk-probe 2>/dev/null; echo $?; " +
              "grep -E ' /(proc/sys|sys) ' /proc/self/mountinfo | awk '{print $5, $6}'",
            { user: "root" },
          ),
        );
        const [hostname, sysrq, sysfs, ...mounts] = r.out.trim().split("\n");
        expect(Number(hostname)).not.toBe(0);
        expect(Number(sysrq)).not.toBe(0);
        expect(Number(sysfs)).not.toBe(0);
        expect(mounts.length).toBeGreaterThanOrEqual(2);
        for (const m of mounts) expect(m.split(" ")[1]!.split(",")).toContain("ro");
      },
      TIMEOUT,
    );

    test(
      "/dev holds only the minimal nodes",
      async () => {
        const r = await run({ config: { command: "/bin/ls", args: ["-1", "/dev"] } });
        expect(r.out.trim().split("\n").sort()).toEqual(
          ["fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty"]
            .concat(["urandom", "zero"])
            .sort(),
        );
        const nodes = await run(
          sh("stat -c '%n %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty"),
        );
        expect(nodes.out.trim().split("\n")).toEqual([
          "/dev/null 1:3",
          "/dev/zero 1:5",
          "/dev/full 1:7",
          "/dev/random 1:8",
          "/dev/urandom 1:9",
          "/dev/tty 5:0",
        ]);
      },
      TIMEOUT,
    );
  });
});

function readdirNumbers(dir: string): number[] {
  return readdirSync(dir)
    .map(Number)
    .sort((a, b) => a - b);
}
