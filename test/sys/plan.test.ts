/**
 * The SpawnPlan as bytes (what ffi/spawn.c decodes) and the task root as an
 * ordered list of steps (src/driver/root.ts). Pure unit tests, no root: the
 * plan is checked as data, the way youki tests its mount sequence with a
 * recording fake before the privileged tests prove it on the kernel.
 */
import { describe, expect, test } from "bun:test";
import { type RootEntry, type RootLayout, rootSteps } from "../../src/driver/root.ts";
import { encodePlan, type PlanStep, type SpawnPlan } from "../../src/sys/plan.ts";
import {
  BK_OP_CHROOT,
  BK_OP_HOSTNAME,
  BK_OP_MKDIR,
  BK_OP_MKNOD,
  BK_OP_MOUNT,
  BK_OP_OPTIONAL,
  BK_OP_PIVOT_ROOT,
  BK_OP_REMOUNT,
  BK_OP_SYMLINK,
  BK_OP_TOUCH,
  BK_OP_UMOUNT,
  BK_OP_WAIT,
  BK_OP_WRITE,
  BK_PLAN_MAGIC,
  MS_BIND,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
} from "../../src/sys/protocol.ts";

// ---------------------------------------------------------------------------------------------
// A decoder written from ffi/spawn.c's decode(), independent of the encoder.

const NULL_STR = 0xffffffff;

class Reader {
  private at = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u32(): number {
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  i32(): number {
    const v = this.view.getInt32(this.at, true);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return v;
  }
  str(): string | null {
    const len = this.u32();
    if (len === NULL_STR) return null;
    const bytes = this.bytes.subarray(this.at, this.at + len);
    // The C side checks the terminator and uses the bytes in place as a C string.
    expect(this.bytes[this.at + len]).toBe(0);
    expect(bytes.includes(0)).toBe(false);
    this.at += len + 1;
    return new TextDecoder().decode(bytes);
  }
  strv(): string[] {
    const n = this.u32();
    return Array.from({ length: n }, () => {
      const s = this.str();
      if (s === null) throw new Error("NULL in a string vector");
      return s;
    });
  }
  get done(): boolean {
    return this.at === this.bytes.byteLength;
  }
}

function decode(bytes: Uint8Array) {
  const r = new Reader(bytes);
  const magic = r.u32();
  const cloneFlags = r.u64();
  const [cgroupFd, initFd, in0, out1, err2, statusFd] = [
    r.i32(),
    r.i32(),
    r.i32(),
    r.i32(),
    r.i32(),
    r.i32(),
  ];
  const nsteps = r.u32();
  const steps = Array.from({ length: nsteps }, () => {
    const code = r.u32();
    const num = r.u32();
    const nargs = r.u32();
    return { code, num, args: Array.from({ length: nargs }, () => r.str()) };
  });
  const argv = r.strv();
  const envp = r.strv();
  return {
    magic,
    cloneFlags,
    cgroupFd,
    initFd,
    stdio: [in0, out1, err2],
    statusFd,
    steps,
    argv,
    envp,
    end: r.done,
  };
}

const samplePlan = (): SpawnPlan => ({
  cloneFlags: 0x20000000 | 0x08000000 | 0x04000000 | 0x00020000,
  cgroupFd: -1,
  initFd: 17,
  stdio: [5, 6, 7],
  steps: [
    {
      code: BK_OP_MOUNT,
      num: MS_REC | MS_PRIVATE,
      args: [null, "/", null, null],
      what: "private",
      path: "/",
    },
    { code: BK_OP_MKDIR, num: 0o755, args: ["/t/ünï"], what: "mkdir", path: "/t/ünï" },
    { code: BK_OP_WRITE, num: 0, args: ["/sys/fs/cgroup/x/cgroup.procs", ""], what: "join", path: "x" },
  ],
  argv: ["bunker-init", "--", "/bin/sh", "sh", "-c", "echo é"],
  envp: ["A=1", "EMPTY="],
});

describe("encodePlan", () => {
  test("header: magic, clone flags as u64, the six fds (-1 kept), little-endian", () => {
    const bytes = encodePlan(samplePlan(), 9);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(view.getUint32(0, true)).toBe(BK_PLAN_MAGIC);
    // "BKP1" read as a little-endian u32 shows in memory as "1PKB".
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("1PKB");
    const d = decode(bytes);
    expect(d.cloneFlags).toBe(BigInt(samplePlan().cloneFlags));
    expect([d.cgroupFd, d.initFd, ...d.stdio, d.statusFd]).toEqual([-1, 17, 5, 6, 7, 9]);
  });

  test("steps, argv and envp round-trip; nothing trails", () => {
    const plan = samplePlan();
    const d = decode(encodePlan(plan, 9));
    expect(d.steps).toEqual(plan.steps.map(({ code, num, args }) => ({ code, num, args })));
    expect(d.argv).toEqual(plan.argv);
    expect(d.envp).toEqual(plan.envp);
    expect(d.end).toBe(true);
  });

  test("a string is u32 byte length (UTF-8), the bytes, then NUL; null is length 0xffffffff", () => {
    const plan = {
      ...samplePlan(),
      steps: [samplePlan().steps[1]!, samplePlan().steps[0]!],
      argv: [],
      envp: [],
    };
    const bytes = encodePlan(plan, 3);
    // header: 4 magic + 8 flags + 6*4 fds + 4 nsteps = 40; step: code, num, nargs
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    let at = 40 + 12;
    const utf8 = new TextEncoder().encode("/t/ünï");
    expect(view.getUint32(at, true)).toBe(utf8.byteLength);
    expect(utf8.byteLength).toBeGreaterThan("/t/ünï".length);
    expect(bytes.subarray(at + 4, at + 4 + utf8.byteLength)).toEqual(utf8);
    expect(bytes[at + 4 + utf8.byteLength]).toBe(0);
    at += 4 + utf8.byteLength + 1;
    // second step: null source, "/" target, null fstype, null data
    at += 12;
    expect(view.getUint32(at, true)).toBe(NULL_STR);
    expect(view.getUint32(at + 4, true)).toBe(1);
    expect(bytes[at + 8]).toBe("/".charCodeAt(0));
    expect(bytes[at + 9]).toBe(0);
    expect(view.getUint32(at + 10, true)).toBe(NULL_STR);
    expect(view.getUint32(at + 14, true)).toBe(NULL_STR);
    // empty argv and envp
    expect(view.getUint32(at + 18, true)).toBe(0);
    expect(view.getUint32(at + 22, true)).toBe(0);
    expect(bytes.byteLength).toBe(at + 26);
  });

  test("an empty string is not null", () => {
    const d = decode(encodePlan(samplePlan(), 3));
    expect(d.steps[2]!.args[1]).toBe("");
  });

  test("4-byte UTF-8 (a surrogate pair) and strings past the first buffer round-trip", () => {
    const long = `${"é".repeat(3000)}🦀${"x".repeat(5000)}`;
    const plan = { ...samplePlan(), argv: ["bunker-init", "🦀", long], envp: ["K=🦀é"] };
    const d = decode(encodePlan(plan, 3));
    expect(d.argv).toEqual(["bunker-init", "🦀", long]);
    expect(d.envp).toEqual(["K=🦀é"]);
  });

  test("a NUL byte anywhere is refused before anything is encoded", () => {
    const inArg = { ...samplePlan(), argv: ["bunker-init", "a\0b"] };
    const inEnv = { ...samplePlan(), envp: ["A=\0"] };
    const inStep = samplePlan();
    inStep.steps[1]!.args[0] = "/t/\0x";
    for (const plan of [inArg, inEnv, inStep]) expect(() => encodePlan(plan, 3)).toThrow(/NUL/);
  });
});

// ---------------------------------------------------------------------------------------------
// rootSteps: the order and reach of the mount plan.

const TASK_DIR = "/var/lib/bunker/tasks/abc-123";
const JOINS = [
  "/sys/fs/cgroup/memory/bunker/abc-123/cgroup.procs",
  "/sys/fs/cgroup/pids/bunker/abc-123/cgroup.procs",
];
const ENTRIES: RootEntry[] = [
  { kind: "symlink", target: "usr/bin", task: "/bin" },
  { kind: "bind", host: "/etc", task: "/etc" },
  { kind: "symlink", target: "usr/lib", task: "/lib" },
  { kind: "bind", host: "/run/systemd/resolve", task: "/run/systemd/resolve" },
  { kind: "bind", host: "/usr", task: "/usr" },
];

function layout(over: Partial<RootLayout> = {}): RootLayout {
  return {
    taskDir: TASK_DIR,
    entries: ENTRIES,
    uid: 65534,
    gid: 65534,
    hostname: "web",
    privatePid: true,
    privateIpc: true,
    noPivotRoot: false,
    joinPaths: JOINS,
    ...over,
  };
}

const op = (s: PlanStep) => s.code & ~BK_OP_OPTIONAL;
const isUnder = (p: string | null | undefined, dir: string) => p === dir || (p ?? "").startsWith(`${dir}/`);

/** The path a step creates or changes, per ffi/protocol.h's argument order; null when it writes nothing. */
function writtenPath(s: PlanStep): string | null {
  switch (op(s)) {
    case BK_OP_MOUNT:
      return s.args[1] ?? null;
    case BK_OP_REMOUNT:
    case BK_OP_MKDIR:
    case BK_OP_TOUCH:
    case BK_OP_WRITE:
    case BK_OP_MKNOD:
    case BK_OP_UMOUNT:
    case BK_OP_PIVOT_ROOT:
    case BK_OP_CHROOT:
      return s.args[0] ?? null;
    case BK_OP_SYMLINK:
      return s.args[1] ?? null;
    default:
      return null;
  }
}

const isMakePrivate = (s: PlanStep) =>
  op(s) === BK_OP_MOUNT && s.args[1] === "/" && (s.num & MS_PRIVATE) !== 0 && (s.num & MS_REC) !== 0;

describe("rootSteps", () => {
  for (const noPivotRoot of [false, true]) {
    const steps = rootSteps(layout({ noPivotRoot }));
    const label = noPivotRoot ? "chroot" : "pivot_root";

    test(`${label}: the cgroup joins come first, in order`, () => {
      expect(steps.slice(0, JOINS.length).map((s) => [op(s), s.args[0], s.args[1]])).toEqual(
        JOINS.map((p) => [BK_OP_WRITE, p, "0"]),
      );
      expect(steps.slice(JOINS.length).some((s) => op(s) === BK_OP_WRITE)).toBe(false);
    });

    test(`${label}: with a gate, the joins wait for it and come last, just before the switch of root`, () => {
      const gated = rootSteps(layout({ noPivotRoot, joinGate: { read: 7, write: 8 } }));
      const tail = gated.slice(-(JOINS.length + 2));
      expect(tail.map((s) => [op(s), s.num, s.args[0]])).toEqual([
        [BK_OP_WAIT, 7, "8"],
        ...JOINS.map((p) => [BK_OP_WRITE, 0, p]),
        [noPivotRoot ? BK_OP_CHROOT : BK_OP_PIVOT_ROOT, 0, TASK_DIR],
      ]);
      expect(
        gated.slice(0, -(JOINS.length + 2)).some((s) => op(s) === BK_OP_WRITE || op(s) === BK_OP_WAIT),
      ).toBe(false);
    });

    test(`${label}: with a start gate, the very first step waits for the task directory`, () => {
      const gated = rootSteps(layout({ noPivotRoot, startGate: { read: 9, write: 10 } }));
      expect([op(gated[0]!), gated[0]!.num, gated[0]!.args[0]]).toEqual([BK_OP_WAIT, 9, "10"]);
      expect(gated.slice(1).some((s) => op(s) === BK_OP_WAIT)).toBe(false);
      expect(gated.slice(1)).toEqual(steps);
    });

    test(`${label}: mounts become private before any mount`, () => {
      const firstMount = steps.findIndex((s) => op(s) === BK_OP_MOUNT);
      expect(isMakePrivate(steps[firstMount]!)).toBe(true);
      // Only propagation: no source, no fstype, no other flag.
      expect(steps[firstMount]!.args[0] ?? null).toBeNull();
      expect(steps[firstMount]!.num).toBe(MS_REC | MS_PRIVATE);
    });

    test(`${label}: the switch of root is the last step, on the task dir`, () => {
      const last = steps.at(-1)!;
      expect(op(last)).toBe(noPivotRoot ? BK_OP_CHROOT : BK_OP_PIVOT_ROOT);
      expect(last.args[0]).toBe(TASK_DIR);
      const switches = steps.filter((s) => op(s) === BK_OP_CHROOT || op(s) === BK_OP_PIVOT_ROOT);
      expect(switches).toHaveLength(1);
    });

    test(`${label}: nothing is written outside the task dir but the cgroup joins`, () => {
      const outside = steps
        .filter((s) => !isMakePrivate(s))
        .filter((s) => op(s) !== BK_OP_WRITE || !JOINS.includes(s.args[0] ?? ""))
        .map((s) => writtenPath(s))
        .filter((p) => p !== null && !isUnder(p, TASK_DIR));
      expect(outside).toEqual([]);
    });

    test(`${label}: every host bind is followed by its read-only remount`, () => {
      const hostBinds = steps
        .map((s, i) => ({ s, i }))
        .filter(({ s }) => op(s) === BK_OP_MOUNT && (s.num & MS_BIND) !== 0 && !isUnder(s.args[0], TASK_DIR));
      expect(hostBinds.map(({ s }) => s.args[0]).sort()).toEqual(["/etc", "/run/systemd/resolve", "/usr"]);
      for (const { s, i } of hostBinds) {
        const next = steps[i + 1]!;
        expect(op(next)).toBe(BK_OP_REMOUNT);
        expect(next.args[0]).toBe(s.args[1]!);
        expect(next.num & MS_RDONLY).toBe(MS_RDONLY);
      }
    });
  }

  test("host binds land at their task paths, parents made first", () => {
    const steps = rootSteps(layout());
    const bindTo = (host: string) =>
      steps.findIndex((s) => op(s) === BK_OP_MOUNT && s.args[0] === host && (s.num & MS_BIND) !== 0);
    const i = bindTo("/run/systemd/resolve");
    expect(steps[i]!.args[1]).toBe(`${TASK_DIR}/run/systemd/resolve`);
    const mkdirs = steps
      .slice(0, i)
      .filter((s) => op(s) === BK_OP_MKDIR)
      .map((s) => s.args[0]);
    expect(mkdirs).toEqual(expect.arrayContaining([`${TASK_DIR}/run`, `${TASK_DIR}/run/systemd`]));
    expect(mkdirs.indexOf(`${TASK_DIR}/run`)).toBeLessThan(mkdirs.indexOf(`${TASK_DIR}/run/systemd`));
  });

  test("host symlinks are re-created inside the root, not bound", () => {
    const steps = rootSteps(layout());
    const links = steps.filter(
      (s) => op(s) === BK_OP_SYMLINK && !(s.args[1] ?? "").startsWith(`${TASK_DIR}/dev/`),
    );
    expect(links.map((s) => s.args)).toEqual([
      ["usr/bin", `${TASK_DIR}/bin`],
      ["usr/lib", `${TASK_DIR}/lib`],
    ]);
  });

  test("the task's mounts: secrets, dev, proc, sys; /proc files masked optionally", () => {
    const steps = rootSteps(layout());
    const mounted = steps.filter((s) => op(s) === BK_OP_MOUNT).map((s) => s.args[1]);
    for (const p of ["/secrets", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/proc", "/sys"]) {
      expect(mounted).toContain(`${TASK_DIR}${p}`);
    }
    const proc = steps.findIndex((s) => op(s) === BK_OP_MOUNT && s.args[2] === "proc");
    for (const f of ["kcore", "keys", "timer_list"]) {
      const mask = steps.findIndex((s) => op(s) === BK_OP_MOUNT && s.args[1] === `${TASK_DIR}/proc/${f}`);
      expect(mask).toBeGreaterThan(proc);
      expect(steps[mask]!.code & BK_OP_OPTIONAL).toBe(BK_OP_OPTIONAL);
      expect(steps[mask]!.args[0]).toBe(`${TASK_DIR}/dev/null`);
    }
    const sys = steps.find((s) => op(s) === BK_OP_MOUNT && s.args[2] === "sysfs")!;
    expect(sys.num & MS_RDONLY).toBe(MS_RDONLY);
    const procSys = steps.find((s) => op(s) === BK_OP_REMOUNT && s.args[0] === `${TASK_DIR}/proc/sys`)!;
    expect(procSys.num & MS_RDONLY).toBe(MS_RDONLY);
  });

  test("the minimal /dev: six character devices", () => {
    const nodes = rootSteps(layout())
      .filter((s) => op(s) === BK_OP_MKNOD)
      .map((s) => [s.args[0]!.slice(TASK_DIR.length), Number(s.args[1])]);
    // dev_t as the kernel encodes it: (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)
    const dev = (major: number, minor: number) => (minor & 0xff) | (major << 8);
    expect(nodes).toEqual([
      ["/dev/null", dev(1, 3)],
      ["/dev/zero", dev(1, 5)],
      ["/dev/full", dev(1, 7)],
      ["/dev/random", dev(1, 8)],
      ["/dev/urandom", dev(1, 9)],
      ["/dev/tty", dev(5, 0)],
    ]);
  });

  test("host IPC: no mqueue mount; no hostname: no sethostname; no joins on cgroup2 clones", () => {
    const steps = rootSteps(layout({ privateIpc: false, hostname: null, joinPaths: [] }));
    expect(steps.some((s) => s.args[1] === `${TASK_DIR}/dev/mqueue`)).toBe(false);
    expect(steps.some((s) => op(s) === BK_OP_HOSTNAME)).toBe(false);
    expect(steps.some((s) => op(s) === BK_OP_WRITE)).toBe(false);
    expect(isMakePrivate(steps[0]!)).toBe(true);
  });

  test("sethostname carries the task name", () => {
    const names = rootSteps(layout()).filter((s) => op(s) === BK_OP_HOSTNAME);
    expect(names.map((s) => s.args)).toEqual([["web"]]);
  });

  test("every step has words for an error message", () => {
    for (const s of rootSteps(layout())) {
      expect(s.what.length).toBeGreaterThan(0);
      expect(s.path.length).toBeGreaterThan(0);
    }
  });
});
