/**
 * Shared pieces of the cgroup tests: they run as root against the real
 * kernel, under a parent of their own so they never touch `bunker`, which
 * other suites (and a running server) may be using.
 */
import { rmdirSync } from "node:fs";
import type { Subprocess } from "bun";
import {
  type CgroupLayoutInfo,
  type CgroupManager,
  createCgroupManager,
  detectCgroups,
} from "../../src/cgroup/index.ts";

export const info: CgroupLayoutInfo = detectCgroups();
export const isRoot = process.getuid?.() === 0;

/** A parent per test run (and per file) so parallel runs and other suites cannot collide. */
export function testParent(file: string): string {
  return `bunker-test-${file}-${process.pid}`;
}

export function manager(parent: string): CgroupManager {
  return createCgroupManager({ parent, info });
}

/** Every directory the parent can have, in every hierarchy (v1 and cgroup2), whether used or not. */
export function parentDirs(parent: string): string[] {
  const v1 = info.layout === "v2" ? [] : [...new Set(info.v1.values())].map((m) => `${m}/${parent}`);
  return info.unified === null ? v1 : [...v1, `${info.unified}/${parent}.slice`];
}

/** Removes what the tests made: their task cgroups, then the parent itself. */
export async function cleanup(mgr: CgroupManager, parent: string, children: Subprocess[]): Promise<void> {
  for (const child of children) child.kill("SIGKILL");
  await mgr.reconcile(new Set());
  for (const dir of parentDirs(parent)) {
    try {
      rmdirSync(dir);
    } catch {
      // Not every hierarchy got a parent (freezer, devices...): ENOENT is expected.
    }
  }
}

let counter = 0;
export function uniqueName(label: string): string {
  counter += 1;
  return `test-${process.pid}-${label}-${counter}`;
}

/** Polls without asserting on time: gives up after `rounds` and lets the caller's expect fail. */
export async function waitFor(cond: () => boolean, rounds = 500): Promise<boolean> {
  for (let i = 0; i < rounds; i++) {
    if (cond()) return true;
    await Bun.sleep(10);
  }
  return cond();
}

/** A shell that joins every given cgroup.procs (echo is a builtin: the shell itself moves), then runs `script`. */
export function spawnIn(procsPaths: readonly string[], script: string): Subprocess<"ignore", "pipe", "pipe"> {
  // One line per join and the script on its own line, so a `&` in the script cannot background the joins.
  const join = procsPaths.map((p) => `echo 0 > ${p} || exit 97`).join("\n");
  return Bun.spawn(["sh", "-c", `${join}\n${script}`], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
}

/** First line of a child's stdout: the scripts print "ready" once set up. */
export async function firstLine(child: Subprocess<"ignore", "pipe", "pipe">): Promise<string> {
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text.split("\n")[0] ?? "";
}
