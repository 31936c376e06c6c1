import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { detectCgroups } from "../../src/cgroup/index.ts";
import { favorDynmods } from "../../src/cgroup/tune.ts";

const info = detectCgroups();
const supported = readFileSync("/sys/kernel/cgroup/features", "utf8").includes("favordynmods");

describe("cgroup favordynmods", () => {
  test("not touched on pure v2, where CLONE_INTO_CGROUP never takes the write lock", () => {
    expect(favorDynmods({ ...info, layout: "v2" })).toBe("not-needed");
  });

  test("on this host's layout it ends up on (or is reported unsupported)", () => {
    const result = favorDynmods(info);
    if (info.layout === "v2") {
      expect(result).toBe("not-needed");
      return;
    }
    if (!supported || info.unified === null) {
      console.log(`favordynmods: kernel or layout without it (${info.layout}); nothing to enable`);
      expect(result).toBe("unsupported");
      return;
    }
    expect(["enabled", "already"]).toContain(result);
    const line = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .find((l) => l.split(" ")[4] === info.unified);
    expect(line).toContain("favordynmods");
    // A second call finds it on.
    expect(favorDynmods(info)).toBe("already");
  });
});
