/**
 * Recovery: a server SIGKILLed mid-task leaves nothing running (the task dies
 * with it: parent-death signal), and the next start of a driver on the same
 * data directory removes every cgroup and task directory the dead one left.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePluginConfig } from "../../src/driver/config.ts";
import { createExecDriver } from "../../src/driver/exec.ts";

const dataDir = mkdtempSync(join(tmpdir(), "bunker-recovery-"));
const FIXTURE = join(import.meta.dir, "fixtures/hold-task.ts");

function cgroupDirsOf(id: string): string[] {
  const dirs = ["memory", "pids", "cpu", "cpuset"].map((c) => `/sys/fs/cgroup/${c}/bunker/${id}`);
  dirs.push(`/sys/fs/cgroup/unified/bunker.slice/${id}`, `/sys/fs/cgroup/bunker.slice/${id}`);
  return dirs.filter((d) => existsSync(d));
}

function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !state.split(") ")[1]?.startsWith("Z");
  } catch {
    return false;
  }
}

const driver = createExecDriver({ plugin: parsePluginConfig({}), dataDir });
afterAll(() => driver.close());

describe("recovery after the server is SIGKILLed mid-task", () => {
  test("the task dies with the server; a restart removes its cgroup and task directory", async () => {
    const server = Bun.spawn([process.execPath, FIXTURE, dataDir], { stdout: "pipe", stderr: "inherit" });
    const reader = server.stdout.getReader();
    const line = new TextDecoder().decode((await reader.read()).value);
    const held = JSON.parse(line) as { id: string; pid: number; tasks: string };
    expect(alive(held.pid)).toBe(true);
    expect(cgroupDirsOf(held.id).length).toBeGreaterThan(0);
    expect(readdirSync(held.tasks)).toContain(held.id);

    server.kill("SIGKILL");
    await server.exited;
    // PR_SET_PDEATHSIG: bunker-init (and with it the task's PID namespace) is killed at once.
    for (let i = 0; i < 200 && alive(held.pid); i++) await Bun.sleep(10);
    expect(alive(held.pid)).toBe(false);

    // The leftovers are there until a driver on the same data directory recovers.
    expect(readdirSync(held.tasks)).toContain(held.id);
    const removed = await driver.recover();
    expect(removed.cgroups).toContain(held.id);
    expect(removed.taskDirs).toContain(held.id);
    expect(cgroupDirsOf(held.id)).toEqual([]);
    expect(existsSync(join(held.tasks, held.id))).toBe(false);
  }, 30_000);
});
