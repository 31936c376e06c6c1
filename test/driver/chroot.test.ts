/**
 * chroot_mode link and copy: when a hard link is allowed (never when the task could write the
 * file), inode sharing on one filesystem, and a real root task writing into its copy.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mayHardLink, populateChroot } from "../../src/driver/chroot.ts";
import { parsePluginConfig, parseTask } from "../../src/driver/config.ts";
import { createExecDriver, type ExecDriver } from "../../src/driver/exec.ts";

const isRoot = process.getuid?.() === 0;
const TIMEOUT = 30_000;
const NOBODY = 65534;
const base = mkdtempSync(join(tmpdir(), "bunker-chroot-"));

afterAll(() => {
  if (driver) Bun.spawnSync(["umount", join(base, "data", "tasks")]);
  rmSync(base, { recursive: true, force: true });
});

function fakeStat(mode: number, uid = 0, gid = 0): Stats {
  return { mode, uid, gid } as Stats;
}

describe("mayHardLink", () => {
  const nobody = { uid: NOBODY, capAdd: [] };
  test("a root-owned read-only file may be linked for a non-root task", () => {
    expect(mayHardLink(fakeStat(0o100644), nobody)).toBe(true);
    expect(mayHardLink(fakeStat(0o100755), nobody)).toBe(true);
  });
  test("never for a root task", () => {
    expect(mayHardLink(fakeStat(0o100444), { uid: 0, capAdd: [] })).toBe(false);
  });
  test("never when the task owns the file (it could chmod it)", () => {
    expect(mayHardLink(fakeStat(0o100444, NOBODY), nobody)).toBe(false);
  });
  test("never when group or others may write", () => {
    expect(mayHardLink(fakeStat(0o100664), nobody)).toBe(false);
    expect(mayHardLink(fakeStat(0o100646), nobody)).toBe(false);
  });
  test.each(["DAC_OVERRIDE", "cap_fowner", "CHOWN", "all"])("never with cap_add %s", (cap) => {
    expect(mayHardLink(fakeStat(0o100644), { uid: NOBODY, capAdd: [cap] })).toBe(false);
  });
});

if (!isRoot) console.log("chroot populate tests skipped: chown to root-owned copies needs root (uid 0)");

describe.skipIf(!isRoot)("populateChroot on one filesystem (as root)", () => {
  function hostTree(): string {
    const host = mkdtempSync(join(base, "host-"));
    mkdirSync(join(host, "sub"));
    writeFileSync(join(host, "ro.txt"), "read only\n");
    chmodSync(join(host, "ro.txt"), 0o644);
    writeFileSync(join(host, "sub", "shared.txt"), "world writable\n");
    chmodSync(join(host, "sub", "shared.txt"), 0o666);
    writeFileSync(join(host, "mine.txt"), "owned by the task user\n");
    chownSync(join(host, "mine.txt"), NOBODY, NOBODY);
    symlinkSync("sub/shared.txt", join(host, "link"));
    return host;
  }

  test("link: read-only files share the host's inode, writable ones are copies", () => {
    const host = hostTree();
    const taskDir = mkdtempSync(join(base, "task-"));
    const stats = populateChroot("link", { [host]: "/opt/app" }, taskDir, { uid: NOBODY, capAdd: [] });
    const t = (p: string) => join(taskDir, "opt/app", p);
    expect(statSync(t("ro.txt")).ino).toBe(statSync(join(host, "ro.txt")).ino);
    expect(statSync(t("sub/shared.txt")).ino).not.toBe(statSync(join(host, "sub/shared.txt")).ino);
    expect(statSync(t("mine.txt")).ino).not.toBe(statSync(join(host, "mine.txt")).ino);
    expect(readFileSync(t("sub/shared.txt"), "utf8")).toBe("world writable\n");
    expect(lstatSync(t("sub/shared.txt")).mode & 0o777).toBe(0o666);
    expect(readlinkSync(t("link"))).toBe("sub/shared.txt");
    expect(stats).toEqual({ linked: 1, copied: 2, symlinks: 1, dirs: 2 });
  });

  test("link for a root task copies everything", () => {
    const host = hostTree();
    const taskDir = mkdtempSync(join(base, "task-"));
    const stats = populateChroot("link", { [host]: "/opt/app" }, taskDir, { uid: 0, capAdd: [] });
    expect(stats.linked).toBe(0);
    expect(statSync(join(taskDir, "opt/app/ro.txt")).ino).not.toBe(statSync(join(host, "ro.txt")).ino);
  });

  test("copy: no inode is shared, modes and owners are kept", () => {
    const host = hostTree();
    const taskDir = mkdtempSync(join(base, "task-"));
    const stats = populateChroot("copy", { [host]: "/app" }, taskDir, { uid: NOBODY, capAdd: [] });
    expect(stats.linked).toBe(0);
    for (const p of ["ro.txt", "sub/shared.txt", "mine.txt"]) {
      const a = statSync(join(host, p));
      const b = statSync(join(taskDir, "app", p));
      expect(b.ino).not.toBe(a.ino);
      expect([b.mode, b.uid, b.gid]).toEqual([a.mode, a.uid, a.gid]);
    }
  });

  test("a missing host path is skipped, as Nomad does", () => {
    const taskDir = mkdtempSync(join(base, "task-"));
    const stats = populateChroot("copy", { [join(base, "nope")]: "/nope" }, taskDir, { uid: 0, capAdd: [] });
    expect(stats).toEqual({ linked: 0, copied: 0, symlinks: 0, dirs: 0 });
  });
});

let driver: ExecDriver | undefined;

/** A minimal root: dash and the libraries ldd names, each at the path the loader expects. */
function minimalChrootEnv(hostData: string): Record<string, string> {
  const env: Record<string, string> = { [realpathSync("/bin/sh")]: "/bin/sh", [hostData]: "/data" };
  const ldd = Bun.spawnSync(["ldd", realpathSync("/bin/sh")]).stdout.toString();
  for (const m of ldd.matchAll(/(\/\S+)/g)) {
    const path = m[1] ?? "";
    env[realpathSync(path)] = path;
  }
  return env;
}

describe.skipIf(!isRoot)("link and copy modes in real tasks (as root)", () => {
  test.each(["link", "copy"] as const)(
    "%s: a root task writes into its copy; the host file is unchanged",
    async (mode) => {
      const hostData = mkdtempSync(join(base, "hostdata-"));
      writeFileSync(join(hostData, "keep.txt"), "host original\n");
      const plugin = parsePluginConfig({
        chroot_mode: mode,
        chroot_env: minimalChrootEnv(hostData),
        allow_root: true,
      });
      driver = createExecDriver({ plugin, dataDir: join(base, "data") });
      const spec = parseTask(
        {
          name: `chroot-${process.pid}`,
          user: "root",
          config: {
            command: "/bin/sh",
            args: ["-c", "echo task > /data/keep.txt && read l < /data/keep.txt && echo $l"],
          },
        },
        plugin,
      );
      const handle = await driver.start(spec);
      const [out, err, outcome] = await Promise.all([
        new Response(handle.stdout).text(),
        new Response(handle.stderr).text(),
        handle.wait(),
      ]);
      expect(err).toBe("");
      expect(out).toBe("task\n");
      expect(outcome.exitCode).toBe(0);
      expect(readFileSync(join(hostData, "keep.txt"), "utf8")).toBe("host original\n");
    },
    TIMEOUT,
  );
});
