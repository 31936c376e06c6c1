/** CPU time read from /proc, for benchmarks that charge work to a process or thread. */
import { readdirSync, readFileSync } from "node:fs";
import { PGLITE_THREAD } from "../../src/store/pglite-thread.ts";

/** utime + stime of a /proc stat line, in milliseconds (USER_HZ is 100 on Linux). */
function statCpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * CPU milliseconds used so far by the /proc entries under `dir` (processes in
 * /proc, threads in /proc/self/task) whose command name is `name`; null where
 * /proc cannot tell.
 */
function cpuMsOf(dir: string, name: string): number | null {
  let ms = 0;
  try {
    for (const id of readdirSync(dir)) {
      if (!/^\d+$/.test(id)) continue;
      let stat: string;
      try {
        stat = readFileSync(`${dir}/${id}/stat`, "utf8");
      } catch {
        continue; // gone meanwhile
      }
      if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) === name) ms += statCpuMs(stat);
    }
  } catch {
    return null;
  }
  return ms;
}

/** Every local postgres server process (the whole server: a busy neighbour inflates it). */
export const postgresCpuMs = () => cpuMsOf("/proc", "postgres");

/** The embedded database's thread in this process. */
export const pgliteCpuMs = () => cpuMsOf("/proc/self/task", PGLITE_THREAD);

/** The main thread of this process (its id is the process id): the event loop. */
export function eventLoopCpuMs(): number | null {
  try {
    return statCpuMs(readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}
