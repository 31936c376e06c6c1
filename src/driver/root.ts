/**
 * The task root, as an ordered list of steps for the cloned child.
 *
 * Nomad builds each chroot by hard-linking or copying the host's /bin, /etc,
 * /lib, /usr… into the task directory: seconds per task, and files shared with
 * the host. Bunker copies nothing: as in Nomad the task directory itself is the
 * root (so `local/`, `alloc/`, `tmp/` and files placed in it are where a Nomad
 * user expects them), but in the child's private mount namespace the
 * `chroot_env` directories are bound onto it read-only, and /dev, /proc,
 * /sys and /secrets are fresh, minimal mounts. Nothing a task does can reach
 * a host file outside its own directory.
 */
import { lstatSync, readlinkSync } from "node:fs";
import type { PlanStep } from "../sys/plan.ts";
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
  BK_OP_WAIT,
  BK_OP_WRITE,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_SHARED,
  MS_SLAVE,
} from "../sys/protocol.ts";
import type { Propagation } from "./types.ts";
import type { PreparedVolume } from "./volumes.ts";

/** One chroot_env entry as found on the host: bound, or (a host symlink such as /bin -> usr/bin) re-created. */
export type RootEntry =
  | { kind: "bind"; host: string; task: string }
  | { kind: "symlink"; target: string; task: string };

export interface RootLayout {
  /** Host path of the task directory, which becomes "/" (holding local/, alloc/, tmp/). */
  taskDir: string;
  entries: RootEntry[];
  uid: number;
  gid: number;
  hostname: string | null;
  privatePid: boolean;
  privateIpc: boolean;
  noPivotRoot: boolean;
  /** cgroup.procs files to join (v1; the cgroup2 one is joined by CLONE_INTO_CGROUP). */
  joinPaths: string[];
  /**
   * When set, the joins wait for one byte on this pipe: the server makes the v1
   * cgroups while the child builds the root, then says so. The joins then come
   * last, before the switch of root, so still no task code runs outside them.
   */
  joinGate?: Gate | null;
  /**
   * When set, the child's very first step waits on this pipe: the server makes
   * the task directory while the clone and its namespaces are being created.
   */
  startGate?: Gate | null;
  /** Steps right after the cgroup joins (network: join a group's namespace, loopback up). */
  early?: readonly PlanStep[];
  /** Steps once the host directories are bound (network: generated /etc files over them). */
  overEtc?: readonly PlanStep[];
  /** volume_mount binds, mount points already made and checked by prepareVolumes. */
  volumes?: readonly PreparedVolume[];
}

/**
 * Resolves chroot_env against the host once: missing sources are skipped (as
 * Nomad does); a source that is a symlink (merged-/usr hosts: /bin -> usr/bin)
 * becomes the same symlink in the task root instead of a second bind.
 */
export function resolveChrootEnv(map: Record<string, string>): RootEntry[] {
  const entries: RootEntry[] = [];
  for (const [host, task] of Object.entries(map)) {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(host);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) entries.push({ kind: "symlink", target: readlinkSync(host), task });
    else if (st.isDirectory() || st.isFile()) entries.push({ kind: "bind", host, task });
  }
  // Parents before children, so /run exists before /run/resolvconf is bound.
  return entries.sort((a, b) => a.task.localeCompare(b.task));
}

const RO = MS_RDONLY | MS_NOSUID | MS_NODEV;
const DEV_NODES: [string, number, number][] = [
  ["null", 1, 3],
  ["zero", 1, 5],
  ["full", 1, 7],
  ["random", 1, 8],
  ["urandom", 1, 9],
  ["tty", 5, 0],
];
const PROC_MASKED = ["kcore", "keys", "timer_list"];
const PROC_READ_ONLY = ["sys", "sysrq-trigger", "irq", "bus"];
const S_IFCHR = 0o020000;

/** Linux's new_encode_dev, so the child needs no makedev(). */
function devT(major: number, minor: number): string {
  return String((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12));
}

class Steps {
  readonly list: PlanStep[] = [];
  constructor(private readonly root: string) {}

  at(taskPath: string): string {
    return taskPath === "/" ? this.root : `${this.root}${taskPath}`;
  }

  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
    what: string,
  ) {
    this.list.push({
      code: BK_OP_MOUNT,
      num: flags,
      args: [source, target, fstype, data],
      what,
      path: target,
    });
  }

  remount(target: string, flags: number) {
    this.list.push({ code: BK_OP_REMOUNT, num: flags, args: [target], what: "remount", path: target });
  }

  mkdir(path: string, mode = 0o755) {
    this.list.push({ code: BK_OP_MKDIR, num: mode, args: [path], what: "mkdir", path });
  }

  /** Creates every missing parent of `taskPath` (task-relative) under the root. */
  mkdirs(taskPath: string, made: Set<string>) {
    let prefix = "";
    for (const part of taskPath.split("/").filter(Boolean)) {
      prefix += `/${part}`;
      if (made.has(prefix)) continue;
      made.add(prefix);
      this.mkdir(this.at(prefix));
    }
  }

  /** Marks the steps `add` appends as skippable when their target is missing. */
  optional(add: () => void) {
    const from = this.list.length;
    add();
    for (const step of this.list.slice(from)) step.code |= BK_OP_OPTIONAL;
  }

  bind(source: string, target: string, flags: number, what: string) {
    this.mount(source, target, null, MS_BIND | MS_REC, null, what);
    this.remount(target, flags);
  }
}

function hostEntries(s: Steps, l: RootLayout, made: Set<string>) {
  for (const e of l.entries) {
    const parent = e.task.slice(0, e.task.lastIndexOf("/"));
    if (parent) s.mkdirs(parent, made);
    if (e.kind === "symlink") {
      s.list.push({
        code: BK_OP_SYMLINK,
        num: 0,
        args: [e.target, s.at(e.task)],
        what: "symlink",
        path: e.task,
      });
      made.add(e.task);
      continue;
    }
    s.mkdirs(e.task, made);
    s.bind(e.host, s.at(e.task), RO, `bind ${e.host} read-only on`);
  }
}

const PROPAGATION_FLAG: Readonly<Record<Propagation, number>> = {
  private: MS_PRIVATE,
  "host-to-task": MS_SLAVE,
  bidirectional: MS_SHARED,
};

/**
 * Volumes go after chroot_env, so one may sit inside a bound directory. Volumes are nodev and
 * nosuid like every other bind (a host volume holding a device node must not open the disk to
 * the task). MS_RDONLY applies to the volume's top mount only: a mount nested below the host
 * path stays as it is on the host (making a tree read-only needs mount_setattr(AT_RECURSIVE)).
 */
function volumeMounts(s: Steps, l: RootLayout) {
  for (const v of l.volumes ?? []) {
    s.mount(v.source, v.target, null, MS_BIND | MS_REC, null, `bind volume ${v.source} on`);
    s.remount(v.target, MS_NOSUID | MS_NODEV | (v.readOnly ? MS_RDONLY : 0));
    s.mount(
      null,
      v.target,
      null,
      PROPAGATION_FLAG[v.propagation],
      null,
      `set ${v.propagation} propagation on`,
    );
  }
}

/**
 * The first step cuts propagation. With "private" everywhere nothing crosses; a volume asking
 * for host-to-task (or bidirectional) needs the root to be a slave instead, so that mounts the
 * host makes below a *shared* host path reach the task. Nothing flows back: bidirectional gives
 * a shared mount inside the task's namespace, but the task's mounts never reach the host (that
 * would need the root to stay in the host's peer group, which rule 3 forbids). When the host
 * path is not on a shared mount (findmnt -o PROPAGATION), both modes behave like private.
 */
function rootPropagation(l: RootLayout): number {
  const wantsHost = (l.volumes ?? []).some((v) => v.propagation !== "private");
  return MS_REC | (wantsHost ? MS_SLAVE : MS_PRIVATE);
}

function secrets(s: Steps, l: RootLayout, made: Set<string>) {
  // private/ holds files Bunker generated for the task (bound over /etc already); the task
  // gets it empty. Only network modes other than host generate any.
  if ((l.overEtc ?? []).length > 0) {
    s.mkdirs("/private", made);
    s.mount(
      "tmpfs",
      s.at("/private"),
      "tmpfs",
      MS_NOSUID | MS_NODEV | MS_NOEXEC,
      "size=1m,mode=0700",
      "mount private tmpfs on",
    );
  }
  s.mkdirs("/secrets", made);
  s.mount(
    "tmpfs",
    s.at("/secrets"),
    "tmpfs",
    MS_NOSUID | MS_NODEV | MS_NOEXEC,
    `size=1m,mode=0700,uid=${l.uid},gid=${l.gid}`,
    "mount secrets tmpfs on",
  );
}

function devMounts(s: Steps, l: RootLayout, made: Set<string>) {
  s.mkdirs("/dev", made);
  const dev = s.at("/dev");
  s.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755", "mount /dev tmpfs on");
  for (const [name, major, minor] of DEV_NODES) {
    const path = `${dev}/${name}`;
    s.list.push({
      code: BK_OP_MKNOD,
      num: S_IFCHR | 0o666,
      args: [path, devT(major, minor)],
      what: "mknod",
      path,
    });
  }
  s.mkdir(`${dev}/pts`);
  s.mount(
    "devpts",
    `${dev}/pts`,
    "devpts",
    MS_NOSUID | MS_NOEXEC,
    "newinstance,ptmxmode=0666,mode=0620,gid=5",
    "mount devpts on",
  );
  s.list.push({
    code: BK_OP_SYMLINK,
    num: 0,
    args: ["pts/ptmx", `${dev}/ptmx`],
    what: "symlink",
    path: `${dev}/ptmx`,
  });
  s.mkdir(`${dev}/shm`, 0o1777);
  s.mount("tmpfs", `${dev}/shm`, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777", "mount /dev/shm on");
  if (l.privateIpc) {
    s.mkdir(`${dev}/mqueue`, 0o1777);
    s.mount("mqueue", `${dev}/mqueue`, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, null, "mount mqueue on");
  }
  for (const [name, target] of [
    ["fd", "/proc/self/fd"],
    ["stdin", "/proc/self/fd/0"],
    ["stdout", "/proc/self/fd/1"],
    ["stderr", "/proc/self/fd/2"],
  ] as const) {
    s.list.push({
      code: BK_OP_SYMLINK,
      num: 0,
      args: [target, `${dev}/${name}`],
      what: "symlink",
      path: name,
    });
  }
}

function procAndSys(s: Steps, made: Set<string>) {
  s.mkdirs("/proc", made);
  const proc = s.at("/proc");
  s.mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, null, "mount proc on");
  // Kernels differ in which of these exist: a missing one needs no mask.
  for (const name of PROC_MASKED) {
    s.optional(() => s.mount(s.at("/dev/null"), `${proc}/${name}`, null, MS_BIND, null, "mask"));
  }
  // uid 0 can write /proc/sys even without capabilities: bind it read-only.
  for (const name of PROC_READ_ONLY) {
    s.optional(() => s.bind(`${proc}/${name}`, `${proc}/${name}`, RO | MS_NOEXEC, "bind read-only"));
  }
  s.mkdirs("/sys", made);
  const sys = s.at("/sys");
  s.mount("sysfs", sys, "sysfs", RO | MS_NOEXEC, null, "mount sysfs read-only on");
  s.optional(() => s.mount("tmpfs", `${sys}/firmware`, "tmpfs", RO | MS_NOEXEC, "size=0", "mask"));
}

/** A pipe the child waits on (BK_OP_WAIT): one byte says go on, EOF that the server gave up. */
export interface Gate {
  read: number;
  write: number;
}

function wait(s: Steps, gate: Gate, what: string) {
  s.list.push({ code: BK_OP_WAIT, num: gate.read, args: [String(gate.write)], what, path: "" });
}

function joins(s: Steps, l: RootLayout) {
  if (l.joinGate != null) wait(s, l.joinGate, "wait for the task's cgroups");
  for (const path of l.joinPaths) {
    s.list.push({ code: BK_OP_WRITE, num: 0, args: [path, "0"], what: "join cgroup", path });
  }
}

/** The full list of steps, from joining the cgroup to the switch of root. */
export function rootSteps(l: RootLayout): PlanStep[] {
  const s = new Steps(l.taskDir);
  if (l.startGate != null) wait(s, l.startGate, "wait for the task directory");
  const gated = l.joinGate != null;
  if (!gated) joins(s, l);
  s.list.push(...(l.early ?? []));
  if (l.hostname !== null) {
    s.list.push({ code: BK_OP_HOSTNAME, num: 0, args: [l.hostname], what: "sethostname", path: l.hostname });
  }
  // Nothing mounted from here on may propagate back to the host.
  s.mount(null, "/", null, rootPropagation(l), null, "make mounts private:");
  // pivot_root needs the new root to be a mount point: bind the task dir onto itself.
  s.bind(l.taskDir, l.taskDir, MS_NOSUID | MS_NODEV, "bind task dir");
  const made = new Set<string>(["/local", "/alloc", "/tmp"]);
  hostEntries(s, l, made);
  s.list.push(...(l.overEtc ?? []));
  volumeMounts(s, l);
  secrets(s, l, made);
  devMounts(s, l, made);
  procAndSys(s, made);
  if (gated) joins(s, l);
  const step = l.noPivotRoot
    ? { code: BK_OP_CHROOT, what: "chroot" }
    : { code: BK_OP_PIVOT_ROOT, what: "pivot_root" };
  s.list.push({ ...step, num: 0, args: [l.taskDir], path: l.taskDir });
  return s.list;
}
