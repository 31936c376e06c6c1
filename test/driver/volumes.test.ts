/**
 * volume_mount: validation, the parent-side mount point checks, binary lookup step 3, and real
 * tasks (as root) proving read-only enforcement and write-through of writable volumes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePluginConfig, parseTask, type TaskInput } from "../../src/driver/config.ts";
import { createExecDriver, type ExecDriver } from "../../src/driver/exec.ts";
import { lookupCommand } from "../../src/driver/lookup.ts";
import { rootSteps } from "../../src/driver/root.ts";
import { prepareVolumes, VolumeError } from "../../src/driver/volumes.ts";
import { ValidationError } from "../../src/errors.ts";
import { MS_BIND, MS_RDONLY, MS_REC, MS_SLAVE } from "../../src/sys/protocol.ts";

const isRoot = process.getuid?.() === 0;
const TIMEOUT = 30_000;
const base = mkdtempSync(join(tmpdir(), "bunker-volumes-"));
const roDir = join(base, "ro");
const rwDir = join(base, "rw");
const toolDir = join(base, "tools");
for (const d of [roDir, rwDir, join(toolDir, "bin")]) mkdirSync(d, { recursive: true });
// World-writable: only the read-only mount may stop the task from writing.
chmodSync(roDir, 0o777);
chmodSync(rwDir, 0o777);
writeFileSync(join(roDir, "host.txt"), "host data\n");
chmodSync(join(roDir, "host.txt"), 0o666);
writeFileSync(join(toolDir, "bin", "hello-vol"), "#!/bin/sh\necho from-volume\n", { mode: 0o755 });

const hostVolumes = { ro: roDir, rw: rwDir, tools: toolDir };
const plugin = parsePluginConfig({ host_volumes: hostVolumes });

afterAll(() => {
  if (driver) Bun.spawnSync(["umount", join(base, "data", "tasks")]);
  rmSync(base, { recursive: true, force: true });
});

function task(extra: Partial<TaskInput>): TaskInput {
  return { name: `vol-${process.pid}`, config: { command: "/bin/true" }, ...extra };
}

describe("volume_mount validation", () => {
  test("a volume resolves to its host path with Nomad's defaults", () => {
    const spec = parseTask(task({ volume_mount: [{ volume: "ro", destination: "/data/./ro/" }] }), plugin);
    expect(spec.volumeMounts).toEqual([
      { volume: "ro", source: roDir, destination: "/data/ro", readOnly: false, propagation: "private" },
    ]);
  });

  test("an undeclared volume is refused, naming the declared ones", () => {
    expect(() => parseTask(task({ volume_mount: [{ volume: "etc", destination: "/x" }] }), plugin)).toThrow(
      'volume "etc" is not a host volume of this client (plugin host_volumes: ro, rw, tools)',
    );
  });

  test.each([
    ["data", "volume_mount destination must be absolute"],
    ["/data/../etc", 'must not contain ".."'],
    ["/", "cannot be the task root"],
    ["/proc/x", "overlaps /proc"],
    ["/dev", "overlaps /dev"],
    ["/sys/fs", "overlaps /sys"],
    ["/secrets", "overlaps /secrets"],
  ])("destination %p is refused", (destination, message) => {
    let err: unknown;
    try {
      parseTask(task({ volume_mount: [{ volume: "ro", destination }] }), plugin);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toContain(message);
    expect((err as ValidationError).issues[0]?.path).toBe("/volume_mount/0/destination");
  });

  test("propagation_mode must be one of Nomad's three", () => {
    const input = task({
      volume_mount: [{ volume: "ro", destination: "/d", propagation_mode: "shared" as "private" }],
    });
    expect(() => parseTask(input, plugin)).toThrow(
      'propagation_mode must be "private", "host-to-task" or "bidirectional", got "shared"',
    );
  });
});

describe("mount points and the root plan", () => {
  test("a symlink on the destination path is refused, clearly", () => {
    const taskDir = mkdtempSync(join(base, "td-"));
    mkdirSync(join(taskDir, "local"));
    symlinkSync("/etc", join(taskDir, "local", "evil"));
    const mount = { volume: "rw", source: rwDir, destination: "/local/evil/x", readOnly: false };
    expect(() => prepareVolumes([{ ...mount, propagation: "private" }], { taskDir, entries: [] })).toThrow(
      new VolumeError(
        "volume_mount destination /local/evil/x: /local/evil is a symlink in the task root; refusing to follow it",
      ),
    );
  });

  test("a missing directory inside a read-only chroot_env bind is refused", () => {
    const taskDir = mkdtempSync(join(base, "td-"));
    const entries = [{ kind: "bind" as const, host: toolDir, task: "/opt" }];
    const mount = { volume: "rw", source: rwDir, destination: "/opt/nope/x", readOnly: false };
    expect(() => prepareVolumes([{ ...mount, propagation: "private" }], { taskDir, entries })).toThrow(
      "/opt/nope does not exist in the read-only chroot_env directory /opt",
    );
  });

  test("steps: bind, read-only remount, propagation; a propagating volume makes the root a slave", () => {
    const taskDir = mkdtempSync(join(base, "td-"));
    const volumes = prepareVolumes(
      [{ volume: "ro", source: roDir, destination: "/data", readOnly: true, propagation: "host-to-task" }],
      { taskDir, entries: [] },
    );
    const steps = rootSteps({
      taskDir,
      entries: [],
      uid: 65534,
      gid: 65534,
      hostname: null,
      privatePid: true,
      privateIpc: true,
      noPivotRoot: false,
      joinPaths: [],
      volumes,
    });
    const target = `${taskDir}/data`;
    const forTarget = steps.filter((s) => s.path === target);
    expect(forTarget.map((s) => s.num)).toEqual([MS_BIND | MS_REC, expect.any(Number), MS_SLAVE]);
    expect((forTarget[1]?.num ?? 0) & MS_RDONLY).toBe(MS_RDONLY);
    expect(steps.find((s) => s.args[1] === "/")?.num).toBe(MS_REC | MS_SLAVE);
  });

  test("lookup step 3 finds a binary in a volume", () => {
    const taskDir = mkdtempSync(join(base, "td-"));
    const found = lookupCommand("/opt/tools/bin/hello-vol", {
      taskDir,
      mounts: [{ hostPath: toolDir, taskPath: "/opt/tools" }],
      makeExecutable: false,
    });
    expect(found.hostPath).toBe(join(toolDir, "bin", "hello-vol"));
    expect(found.taskPath).toBe("/opt/tools/bin/hello-vol");
  });
});

let driver: ExecDriver | undefined;

async function run(input: TaskInput) {
  driver ??= createExecDriver({ plugin, dataDir: join(base, "data") });
  const handle = await driver.start(parseTask(input, plugin));
  const [out, err, outcome] = await Promise.all([
    new Response(handle.stdout).text(),
    new Response(handle.stderr).text(),
    handle.wait(),
  ]);
  return { out, err, outcome };
}

if (!isRoot) console.log("volume task tests skipped: the exec driver needs root (uid 0)");

describe.skipIf(!isRoot)("volumes in real tasks (as root)", () => {
  test(
    "a read-only volume cannot be written; the host file is unchanged",
    async () => {
      const r = await run(
        task({
          config: {
            command: "/bin/sh",
            args: [
              "-c",
              "cat /data/host.txt; echo evil > /data/host.txt; echo new > /data/new.txt; echo rc=$?",
            ],
          },
          volume_mount: [{ volume: "ro", destination: "/data", read_only: true }],
        }),
      );
      expect(r.out).toContain("host data");
      expect(r.out).toContain("rc=2");
      expect(r.err).toContain("Read-only file system");
      expect(readFileSync(join(roDir, "host.txt"), "utf8")).toBe("host data\n");
    },
    TIMEOUT,
  );

  test(
    "a writable volume is written through to the host",
    async () => {
      const r = await run(
        task({
          config: { command: "/bin/sh", args: ["-c", "echo from-task > /srv/out/written.txt"] },
          volume_mount: [{ volume: "rw", destination: "/srv/out" }],
        }),
      );
      expect(r.outcome.exitCode).toBe(0);
      expect(readFileSync(join(rwDir, "written.txt"), "utf8")).toBe("from-task\n");
    },
    TIMEOUT,
  );

  test(
    "the command is found in a volume (lookup step 3) and runs",
    async () => {
      const r = await run(
        task({
          config: { command: "/opt/tools/bin/hello-vol" },
          volume_mount: [{ volume: "tools", destination: "/opt/tools", read_only: true }],
        }),
      );
      expect(r.err).toBe("");
      expect(r.out).toBe("from-volume\n");
      expect(r.outcome.exitCode).toBe(0);
    },
    TIMEOUT,
  );
});
