/**
 * Clones children on spawn threads (src/sys/spawn-worker.ts) instead of the
 * JavaScript thread. bk_spawn blocks its caller until the child has set up its
 * root and exec'd bunker-init (CLONE_VFORK); on a spawn thread that is one core
 * busy, not the event loop stalled. Two threads, so two starts use both cores;
 * they live as long as the process (see src/threads.ts: a child's parent-death
 * signal follows the thread that cloned it).
 */

import { type JobError, Threads } from "../threads.ts";
import { SysError } from "./error.ts";
import type { SpawnJob, SpawnResult } from "./spawn-worker.ts";

let threads: Threads<SpawnJob, SpawnResult> | undefined;

export async function spawnOnThread(plan: Uint8Array): Promise<SpawnResult> {
  threads ??= new Threads(new URL("./spawn-worker.ts", import.meta.url), 2, "bunker-spawn");
  try {
    // Moved, not copied: the plan is built for this one spawn.
    return await threads.run({ plan }, [plan.buffer as ArrayBuffer]);
  } catch (err) {
    const e = err as JobError;
    throw e.errno !== undefined
      ? new SysError(e.op ?? "clone3", e.errno, e.path)
      : new Error(String(e.message));
  }
}
