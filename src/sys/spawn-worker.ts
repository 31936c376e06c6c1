/**
 * A spawn thread: runs bk_spawn (the clone and the child's whole setup, during
 * which CLONE_VFORK suspends the calling thread) off the JavaScript thread, so
 * the event loop keeps serving and two starts can use both cores.
 *
 * The thread must live as long as the process: a child's parent-death signal
 * follows the thread that cloned it. src/sys/spawner.ts keeps it so.
 */
import { spawnPlan } from "./native.ts";

declare const self: Worker;

export interface SpawnRequest {
  seq: number;
  plan: Uint8Array;
}

export type SpawnReply = { seq: number; pid: number; pidfd: number } | { seq: number; error: unknown };

self.onmessage = (event: MessageEvent<SpawnRequest>) => {
  const { seq, plan } = event.data;
  try {
    const { pid, pidfd } = spawnPlan(plan);
    self.postMessage({ seq, pid, pidfd } satisfies SpawnReply);
  } catch (err) {
    // SysError fields survive structured cloning as a plain object; spawner.ts rebuilds it.
    const e = err as { op?: string; errno?: number; path?: string; message?: string };
    self.postMessage({
      seq,
      error: { op: e.op, errno: e.errno, path: e.path, message: e.message },
    } satisfies SpawnReply);
  }
};
