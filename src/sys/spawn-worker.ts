/**
 * A spawn thread: runs bk_spawn (the clone and the child's whole setup, during
 * which CLONE_VFORK suspends the calling thread) off the JavaScript thread, so
 * the event loop keeps serving and two starts can use both cores.
 *
 * The thread must live as long as the process: a child's parent-death signal
 * follows the thread that cloned it. src/threads.ts keeps it so.
 */

import { serveJobs } from "../threads.ts";
import { spawnPlan } from "./native.ts";

export interface SpawnJob {
  plan: Uint8Array;
}

export interface SpawnResult {
  pid: number;
  pidfd: number;
}

serveJobs<SpawnJob, SpawnResult>(({ plan }) => spawnPlan(plan));
