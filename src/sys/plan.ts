/**
 * SpawnPlan: everything the cloned child will do, built as data before the
 * clone (STYLE.md example 2) and encoded into the byte layout ffi/spawn.c
 * decodes. Steps carry a description so that a failure reported as
 * (step index, errno) becomes "mount proc on /proc: EPERM".
 */
import { BK_PLAN_MAGIC } from "./protocol.ts";

export interface PlanStep {
  code: number;
  /** MS_* flags, a mode, or umount flags, depending on the op. */
  num: number;
  args: (string | null)[];
  /** What the step does, in words: "bind /usr read-only". */
  what: string;
  /** The path the step acts on, for the error message. */
  path: string;
}

export interface SpawnPlan {
  /** CLONE_NEW* flags. */
  cloneFlags: number;
  /** fd of a cgroup v2 directory for CLONE_INTO_CGROUP, or -1. */
  cgroupFd: number;
  /** O_PATH fd of bunker-init. */
  initFd: number;
  /** fds that become the task's 0, 1, 2. */
  stdio: [number, number, number];
  steps: PlanStep[];
  /** bunker-init's argv (credentials, then `--`, path, the task's argv). */
  argv: string[];
  /** The task's environment, exactly. */
  envp: string[];
}

class Writer {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }

  u64(v: number): void {
    this.reserve(8);
    this.view.setBigUint64(this.len, BigInt(v), true);
    this.len += 8;
  }

  str(s: string | null): void {
    if (s === null) {
      this.u32(0xffffffff);
      return;
    }
    if (s.includes("\0")) throw new TypeError(`NUL byte in plan string ${JSON.stringify(s)}`);
    const bytes = new TextEncoder().encode(s);
    this.u32(bytes.length);
    this.reserve(bytes.length + 1);
    this.buf.set(bytes, this.len);
    this.buf[this.len + bytes.length] = 0;
    this.len += bytes.length + 1;
  }

  strv(v: string[]): void {
    this.u32(v.length);
    for (const s of v) this.str(s);
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export function encodePlan(plan: SpawnPlan, statusFd: number): Uint8Array {
  const w = new Writer();
  w.u32(BK_PLAN_MAGIC);
  w.u64(plan.cloneFlags);
  for (const fd of [plan.cgroupFd, plan.initFd, ...plan.stdio, statusFd]) w.u32(fd);
  w.u32(plan.steps.length);
  for (const step of plan.steps) {
    w.u32(step.code);
    w.u32(step.num);
    w.u32(step.args.length);
    for (const a of step.args) w.str(a);
  }
  w.strv(plan.argv);
  w.strv(plan.envp);
  return w.done();
}
