import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTaskDir, removeTaskDir } from "../../src/driver/taskdir.ts";

const base = mkdtempSync(join(tmpdir(), "bunker-taskdir-"));
const mounted: string[] = [];

afterAll(() => {
  for (const m of mounted) Bun.spawnSync(["umount", m]);
});

describe("task directories", () => {
  test("Nomad's layout, owned so the task user can write local/ and tmp/ is world-writable and sticky", () => {
    const dir = createTaskDir(base, "layout", 65534, 65534);
    for (const sub of ["local", "alloc/logs", "alloc/tmp", "alloc/data", "tmp"]) {
      expect(existsSync(join(dir.root, sub))).toBe(true);
    }
    const st = Bun.spawnSync([
      "stat",
      "-c",
      "%u %a",
      join(dir.root, "local"),
      join(dir.root, "tmp"),
    ]).stdout.toString();
    expect(st.trim().split("\n")).toEqual(["65534 755", "0 1777"]);
    removeTaskDir(dir);
    expect(existsSync(dir.root)).toBe(false);
  });

  test("removal never crosses into another filesystem mounted below the task dir", () => {
    const dir = createTaskDir(base, "guarded", 65534, 65534);
    const victim = join(dir.root, "local", "mnt");
    mkdirSync(victim);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "none", victim]).exitCode).toBe(0);
    mounted.push(victim);
    writeFileSync(join(victim, "precious"), "do not delete");
    expect(() => removeTaskDir(dir)).toThrow("another filesystem is mounted there");
    expect(existsSync(join(victim, "precious"))).toBe(true);
  });

  test("a directory already gone is fine", () => {
    expect(() => removeTaskDir({ root: join(base, "never-made") })).not.toThrow();
  });
});
