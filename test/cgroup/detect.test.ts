import { describe, expect, test } from "bun:test";
import { existsSync, statfsSync } from "node:fs";
import { cgroupProblem, classifyCgroups, detectCgroups, parseMountinfo } from "../../src/cgroup/detect.ts";

const CGROUP2_SUPER_MAGIC = 0x63677270;

// Real mountinfo lines of the three layouts (systemd hosts, this CI VM).
const PURE_V2 = `
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
35 25 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const HYBRID = `
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const PROC_CGROUPS = `#subsys_name	hierarchy	num_cgroups	enabled
cpu	1	1	1
memory	0	1	0
pids	8	1	1
`;

const none = () => [];

describe("parseMountinfo", () => {
  test("keeps cgroup mounts only, with controllers and the mounted root", () => {
    const mounts = parseMountinfo(HYBRID);
    expect(mounts.map((m) => m.mountPoint)).toEqual([
      "/sys/fs/cgroup/cpu,cpuacct",
      "/sys/fs/cgroup/memory",
      "/sys/fs/cgroup/pids",
      "/sys/fs/cgroup/systemd",
      "/sys/fs/cgroup/unified",
    ]);
    expect(mounts[0]?.superOptions).toEqual(["rw", "cpu", "cpuacct"]);
    expect(mounts[4]?.fsType).toBe("cgroup2");
  });

  test("decodes octal escapes in mount points", () => {
    const [mount] = parseMountinfo("1 2 0:3 /a\\040b /mnt/my\\040cg rw - cgroup2 none rw\n");
    expect(mount?.mountPoint).toBe("/mnt/my cg");
    expect(mount?.root).toBe("/a b");
  });
});

describe("classifyCgroups", () => {
  test("pure v2: controllers come from the root's cgroup.controllers", () => {
    const info = classifyCgroups(
      parseMountinfo(PURE_V2),
      () => ["cpuset", "cpu", "io", "memory", "pids"],
      null,
    );
    expect(info.layout).toBe("v2");
    expect(info.unified).toBe("/sys/fs/cgroup");
    expect(info.missing).toEqual([]);
    expect(cgroupProblem(info)).toBeNull();
  });

  test("pure v2 without the pids controller names it", () => {
    const info = classifyCgroups(parseMountinfo(PURE_V2), () => ["cpu", "memory"], null);
    expect(info.missing).toEqual(["pids"]);
    expect(cgroupProblem(info)).toBe("Failed to discover cgroup mount point: pids");
  });

  test("hybrid: co-mounted cpu,cpuacct share one mount; the cgroup2 mount is kept", () => {
    const info = classifyCgroups(parseMountinfo(HYBRID), none, null);
    expect(info.layout).toBe("hybrid");
    expect(info.v1.get("cpu")).toBe("/sys/fs/cgroup/cpu,cpuacct");
    expect(info.v1.get("cpuacct")).toBe("/sys/fs/cgroup/cpu,cpuacct");
    expect(info.v1.has("name=systemd")).toBe(false);
    expect(info.unified).toBe("/sys/fs/cgroup/unified");
    expect(info.missing).toEqual([]);
  });

  test("pure v1 and a missing controller disabled in the kernel", () => {
    const v1Only = HYBRID.split("\n")
      .filter((l) => !l.includes("cgroup2") && !l.includes("/memory"))
      .join("\n");
    const info = classifyCgroups(parseMountinfo(v1Only), none, PROC_CGROUPS);
    expect(info.layout).toBe("v1");
    expect(info.missing).toEqual(["memory"]);
    expect(info.disabled).toEqual(["memory"]);
    expect(cgroupProblem(info)).toBe(
      "Failed to discover cgroup mount point: memory (disabled in the kernel: memory)",
    );
  });

  test("no cgroup mounts at all", () => {
    const info = classifyCgroups([], none, null);
    expect(info.layout).toBeNull();
    expect(cgroupProblem(info)).toBe("Failed to discover cgroup mount point: memory, cpu, pids");
  });
});

describe("detectCgroups on this host", () => {
  const info = detectCgroups();

  test("finds a layout with every required controller", () => {
    expect(info.layout).not.toBeNull();
    expect(info.missing).toEqual([]);
  });

  test("agrees with the filesystem: cgroup2 really is cgroup2, v1 mounts carry their files", () => {
    if (info.unified !== null) expect(statfsSync(info.unified).type).toBe(CGROUP2_SUPER_MAGIC);
    const expected: Record<string, string> = {
      memory: "memory.limit_in_bytes",
      cpu: "cpu.shares",
      pids: "cgroup.procs",
      cpuset: "cpuset.cpus",
    };
    for (const [ctrl, mount] of info.v1) {
      const file = expected[ctrl];
      if (file !== undefined) expect(existsSync(`${mount}/${file}`)).toBe(true);
    }
    const rootIsV2 = statfsSync("/sys/fs/cgroup").type === CGROUP2_SUPER_MAGIC;
    expect(info.layout === "v2").toBe(rootIsV2);
  });
});
