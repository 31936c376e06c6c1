/**
 * SpawnPlan: everything the cloned child will do, built as data before the
 * clone (STYLE.md example 2) and encoded into the byte layout ffi/spawn.c
 * decodes. Steps carry a description so that a failure reported as
 * (step index, errno) becomes "mount proc on /proc: EPERM".
 */
import { BK_PLAN_MAGIC } from "./protocol.ts";
import { BinaryWriter } from "./writer.ts";

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
  /** bunker-init's argv and environment (the task's come in its TaskRequest). */
  argv: string[];
  envp: string[];
}

export function encodePlan(plan: SpawnPlan, statusFd: number): Uint8Array {
  const w = new BinaryWriter();
  w.u32(BK_PLAN_MAGIC);
  w.u64(BigInt(plan.cloneFlags));
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
