import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  CommandNotFoundError,
  candidates,
  type LookupOptions,
  lookupCommand,
} from "../../src/driver/lookup.ts";
import { BunkerError } from "../../src/errors.ts";

let base = "";
let taskDir = "";
let host = "";
let opts: LookupOptions;

function file(path: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, "#!/bin/sh\n");
  chmodSync(path, mode);
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "lookup-"));
  taskDir = join(base, "task");
  host = join(base, "host");
  mkdirSync(join(taskDir, "local"), { recursive: true });

  // The "host" directories that chroot_env binds into the task root.
  for (const name of ["everywhere", "both"]) {
    file(join(taskDir, "local", name));
  }
  file(join(taskDir, "everywhere"));
  file(join(host, "usr/bin/everywhere"), 0o755);
  file(join(taskDir, "both"));
  file(join(taskDir, "rootonly"));
  file(join(host, "usr/bin/both"), 0o755);
  file(join(host, "usr/local/bin/order"), 0o755);
  file(join(host, "usr/bin/order"), 0o755);
  file(join(host, "usr/bin/second"), 0o755);
  file(join(host, "realbin/order"), 0o755);
  file(join(host, "realbin/third"), 0o755);
  symlinkSync("realbin", join(host, "bin")); // merged-/usr style: the bind source is a symlink
  file(join(host, "usr/bin/tool"), 0o644); // a host file without +x must stay that way
  mkdirSync(join(host, "usr/bin/adir"));
  file(join(host, "usr/bin/dash"), 0o755);
  symlinkSync("dash", join(host, "usr/bin/sh"));
  file(join(host, "usr/local/bin/python3"), 0o755);
  symlinkSync("/usr/local/bin/python3", join(host, "usr/bin/python"));
  file(join(base, "secret"));
  symlinkSync(join(base, "secret"), join(host, "usr/bin/hostonly"));
  symlinkSync("../../../../../../../../../secret", join(host, "usr/bin/climb"));
  symlinkSync("loop2", join(host, "usr/bin/loop1"));
  symlinkSync("loop1", join(host, "usr/bin/loop2"));
  file(join(host, "resolv/resolv.conf"));
  mkdirSync(join(host, "etc"));

  // Files in the task dir itself.
  file(join(taskDir, "local/script.sh"), 0o644);
  file(join(taskDir, "local/bin/abs"), 0o644);
  file(join(taskDir, "local/plain"), 0o600);
  file(join(taskDir, "opt/x"), 0o755);
  symlinkSync("/usr/bin/dash", join(taskDir, "local/shell"));
  file(join(base, "outside-linked"), 0o644);
  linkSync(join(base, "outside-linked"), join(taskDir, "local/hardlinked"));

  // Volume mounts.
  file(join(base, "vol1/run.sh"), 0o644);
  file(join(base, "vol1/sub/shadowed"), 0o755);
  file(join(base, "vol2/shadowed"), 0o755);

  opts = {
    taskDir,
    chrootEnv: {
      [join(host, "usr")]: "/usr",
      [join(host, "bin")]: "/bin",
      [join(host, "etc")]: "/etc",
      [join(host, "resolv")]: "/run/resolvconf",
      [join(base, "missing")]: "/opt",
    },
    mounts: [
      { hostPath: join(base, "vol1"), taskPath: "/data" },
      { hostPath: join(base, "vol2"), taskPath: "/data/sub" },
    ],
  };
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe("lookup order", () => {
  test("1. <taskdir>/local first", () => {
    expect(lookupCommand("everywhere", opts)).toEqual({
      taskPath: "/local/everywhere",
      hostPath: join(taskDir, "local/everywhere"),
      searchedAs: "/local/everywhere",
    });
  });

  test("2. then <taskdir>", () => {
    expect(lookupCommand("rootonly", opts).taskPath).toBe("/rootonly");
  });

  test("a relative path with a slash is found from the task dir", () => {
    const r = lookupCommand("local/script.sh", opts);
    expect(r.taskPath).toBe("/local/script.sh");
    expect(r.searchedAs).toBe("/local/script.sh");
  });

  test("absolute commands are looked up under local/ too, like Nomad's filepath.Join", () => {
    expect(lookupCommand("/bin/abs", opts).taskPath).toBe("/local/bin/abs");
  });

  test("absolute commands resolve through chroot_env to the host path", () => {
    expect(lookupCommand("/usr/bin/tool", opts)).toEqual({
      taskPath: "/usr/bin/tool",
      hostPath: join(host, "usr/bin/tool"),
      searchedAs: "/usr/bin/tool",
    });
  });

  test("3. volume mounts", () => {
    expect(lookupCommand("/data/run.sh", opts)).toEqual({
      taskPath: "/data/run.sh",
      hostPath: join(base, "vol1/run.sh"),
      searchedAs: "/data/run.sh",
    });
  });

  test("a nested mount shadows its parent, as it will at run time", () => {
    expect(lookupCommand("/data/sub/shadowed", opts).hostPath).toBe(join(base, "vol2/shadowed"));
  });

  test("4. PATH-like search: /usr/local/bin, then /usr/bin, then /bin", () => {
    expect(lookupCommand("order", opts).hostPath).toBe(join(host, "usr/local/bin/order"));
    expect(lookupCommand("second", opts).hostPath).toBe(join(host, "usr/bin/second"));
    expect(lookupCommand("third", opts)).toEqual({
      taskPath: "/bin/third",
      hostPath: join(host, "bin/third"),
      searchedAs: "/bin/third",
    });
  });

  test("no PATH search for a command containing a slash", () => {
    expect(() => lookupCommand("bin/second", opts)).toThrow(CommandNotFoundError);
    expect(() => lookupCommand("./second", opts)).toThrow(CommandNotFoundError);
  });

  test("candidates in Nomad's order", () => {
    expect(candidates("x", [])).toEqual(["/local/x", "/x", "/usr/local/bin/x", "/usr/bin/x", "/bin/x"]);
    expect(candidates("/data/x", [{ hostPath: "/h", taskPath: "/data" }])).toEqual([
      "/local/data/x",
      "/data/x",
    ]);
    expect(candidates("a/b", [{ hostPath: "/h", taskPath: "/a" }])).toEqual(["/local/a/b", "/a/b"]);
    expect(candidates("", [])).toEqual([]);
  });
});

describe("what counts", () => {
  test("only regular files", () => {
    expect(() => lookupCommand("adir", opts)).toThrow(CommandNotFoundError);
    expect(() => lookupCommand("/local/script.sh/x", opts)).toThrow(CommandNotFoundError);
  });

  test("relative symlinks are followed inside the bind", () => {
    expect(lookupCommand("sh", opts)).toEqual({
      taskPath: "/usr/bin/dash",
      hostPath: join(host, "usr/bin/dash"),
      searchedAs: "/usr/bin/sh",
    });
  });

  test("absolute symlinks resolve against the task root, not the host", () => {
    expect(lookupCommand("python", opts).hostPath).toBe(join(host, "usr/local/bin/python3"));
    expect(lookupCommand("local/shell", opts).hostPath).toBe(join(host, "usr/bin/dash"));
  });

  test("a symlink to a host path outside the root is not found", () => {
    expect(() => lookupCommand("hostonly", opts)).toThrow(CommandNotFoundError);
  });

  test("a symlink climbing above the root is refused", () => {
    expect(() => lookupCommand("climb", opts)).toThrow(CommandNotFoundError);
    expect(() => lookupCommand("../../secret", opts)).toThrow(CommandNotFoundError);
  });

  test("symlink loops end", () => {
    expect(() => lookupCommand("loop1", opts)).toThrow(CommandNotFoundError);
  });

  test("a chroot_env entry whose source is missing is skipped", () => {
    expect(lookupCommand("/opt/x", opts).hostPath).toBe(join(taskDir, "opt/x"));
  });

  test("mount points that do not exist yet in the task dir are crossed", () => {
    expect(lookupCommand("/run/resolvconf/resolv.conf", opts).hostPath).toBe(
      join(host, "resolv/resolv.conf"),
    );
  });

  test("not found: Nomad's text, code not_found", () => {
    let err: unknown;
    try {
      lookupCommand("nope", opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BunkerError);
    expect((err as BunkerError).code).toBe("not_found");
    expect((err as BunkerError).message).toBe(`file nope not found under path ${taskDir}`);
    expect((err as CommandNotFoundError).issues[0]?.path).toBe("/config/command");
  });

  test("without chroot_env or mounts only the task dir is searched", () => {
    expect(lookupCommand("everywhere", { taskDir }).taskPath).toBe("/local/everywhere");
    expect(() => lookupCommand("second", { taskDir })).toThrow(CommandNotFoundError);
  });
});

describe("making the binary executable", () => {
  test("a file in the task dir gets +x", () => {
    const p = join(taskDir, "local/plain");
    expect(mode(p)).toBe(0o600);
    lookupCommand("plain", opts);
    expect(mode(p)).toBe(0o711);
  });

  test("a host file behind a read-only bind is never touched", () => {
    lookupCommand("tool", opts);
    expect(mode(join(host, "usr/bin/tool"))).toBe(0o644);
  });

  test("a file in a volume mount is never touched", () => {
    lookupCommand("/data/run.sh", opts);
    expect(mode(join(base, "vol1/run.sh"))).toBe(0o644);
  });

  test("a hard link shares its mode with a file outside, so it is left alone", () => {
    lookupCommand("hardlinked", opts);
    expect(mode(join(base, "outside-linked"))).toBe(0o644);
  });

  test("makeExecutable: false leaves the mode", () => {
    const p = join(taskDir, "local/script.sh");
    chmodSync(p, 0o644);
    lookupCommand("local/script.sh", { ...opts, makeExecutable: false });
    expect(mode(p)).toBe(0o644);
    lookupCommand("local/script.sh", opts);
    expect(mode(p)).toBe(0o755);
  });
});
