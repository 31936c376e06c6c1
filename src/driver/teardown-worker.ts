/**
 * A teardown thread: removes what an ended task leaves — its empty cgroup
 * directories and its task directory — with blocking syscalls (a v1 cgroup's
 * rmdir alone costs ~100 µs in the kernel) off the JavaScript thread.
 */
import { tryRmdir } from "../cgroup/fs.ts";
import { serveJobs } from "../threads.ts";
import { removeTaskDir } from "./taskdir.ts";

export interface TeardownJob {
  cgroupDirs: readonly string[];
  taskDir: string;
}

export interface TeardownResult {
  /** A cgroup still held a process or a sub-cgroup: the caller kills and removes it (and then the task dir). */
  cgroupBusy: boolean;
}

serveJobs<TeardownJob, TeardownResult>(({ cgroupDirs, taskDir }) => {
  // Every directory, even after a busy one: what can go, goes now.
  const busy = cgroupDirs.map(tryRmdir).includes(false);
  if (!busy) removeTaskDir({ root: taskDir });
  return { cgroupBusy: busy };
});
