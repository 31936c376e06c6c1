/**
 * artifact blocks: downloads from a local HTTP server, archives made by the system's own tar,
 * gzip and zip (what users upload), and hand-crafted hostile archives (what attackers upload),
 * each escape refused before anything lands outside the destination.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, gzipSync } from "node:zlib";
import { ArtifactError, fetchArtifacts, parseArtifacts } from "../../src/driver/artifacts.ts";
import { parsePluginConfig, parseTask } from "../../src/driver/config.ts";
import { createExecDriver, type ExecDriver } from "../../src/driver/exec.ts";
import type { ArtifactLimits } from "../../src/driver/types.ts";

const isRoot = process.getuid?.() === 0;
const TIMEOUT = 30_000;
const base = mkdtempSync(join(tmpdir(), "bunker-artifacts-"));
/** Files owned by the task user: nobody when we can chown, else ourselves. */
const owner = isRoot
  ? { uid: 65534, gid: 65534 }
  : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

// ---------------------------------------------------------------------------------------------
// Fixtures made by the system's tools

const src = join(base, "src");
mkdirSync(join(src, "tree", "sub"), { recursive: true });
writeFileSync(join(src, "tree", "hello.sh"), "#!/bin/sh\necho hello-artifact\n", { mode: 0o755 });
writeFileSync(join(src, "tree", "sub", "data.txt"), "data\n");
symlinkSync("sub/data.txt", join(src, "tree", "link"));
writeFileSync(join(src, "plain.txt"), "plain file\n");

function sh(cmd: string[], cwd = src): void {
  const r = Bun.spawnSync(cmd, { cwd });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
}
sh(["tar", "-czf", join(base, "tree.tar.gz"), "-C", join(src, "tree"), "."]);
sh(["tar", "-cf", join(base, "tree.tar"), "-C", join(src, "tree"), "."]);
sh(["zip", "-q", "-r", "-y", join(base, "tree.zip"), "."], join(src, "tree"));
writeFileSync(join(base, "plain.txt.gz"), gzipSync(readFileSync(join(src, "plain.txt"))));

// ---------------------------------------------------------------------------------------------
// Hand-made hostile archives

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, "0")}\0`;
}

interface TarMember {
  name: string;
  type?: string;
  data?: string;
  linkname?: string;
  mode?: number;
}

function tar(members: TarMember[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const m of members) {
    const data = enc.encode(m.data ?? "");
    const h = new Uint8Array(512);
    const put = (off: number, s: string) => h.set(enc.encode(s), off);
    put(0, m.name);
    put(100, octal(m.mode ?? 0o644, 8));
    put(108, octal(0, 8));
    put(116, octal(0, 8));
    put(124, octal(data.length, 12));
    put(136, octal(0, 12));
    put(148, "        ");
    put(156, m.type ?? "0");
    put(157, m.linkname ?? "");
    put(257, "ustar\0");
    put(263, "00");
    put(329, octal(1, 8));
    put(337, octal(3, 8));
    put(
      148,
      octal(
        h.reduce((a, b) => a + b, 0),
        7,
      ),
    );
    blocks.push(h, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  return Buffer.concat(blocks);
}

/** A stored zip; `mode` (with its S_IF bits) goes in the Unix external attributes. */
function zip(members: { name: string; data: string; mode?: number }[]): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const m of members) {
    const name = enc.encode(m.name);
    const data = enc.encode(m.data);
    const crc = crc32(data);
    const l = Buffer.alloc(30);
    l.writeUInt32LE(0x04034b50, 0);
    l.writeUInt16LE(20, 4);
    l.writeUInt32LE(crc, 14);
    l.writeUInt32LE(data.length, 18);
    l.writeUInt32LE(data.length, 22);
    l.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE((3 << 8) | 20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(((m.mode ?? 0o100644) << 16) >>> 0, 38);
    c.writeUInt32LE(offset, 42);
    locals.push(l, name, data);
    centrals.push(c, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(members.length, 8);
  e.writeUInt16LE(members.length, 10);
  e.writeUInt32LE(cd.length, 12);
  e.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, e]);
}

// ---------------------------------------------------------------------------------------------
// The server

const files = new Map<string, Uint8Array>([
  ["/tree.tar.gz", readFileSync(join(base, "tree.tar.gz"))],
  ["/tree.tgz", readFileSync(join(base, "tree.tar.gz"))],
  ["/tree.tar", readFileSync(join(base, "tree.tar"))],
  ["/tree.zip", readFileSync(join(base, "tree.zip"))],
  ["/plain.txt", readFileSync(join(src, "plain.txt"))],
  ["/plain.txt.gz", readFileSync(join(base, "plain.txt.gz"))],
  ["/dotdot.tar", tar([{ name: "../evil.txt", data: "x" }])],
  ["/absolute.tar", tar([{ name: "/tmp/evil.txt", data: "x" }])],
  ["/symlink-abs.tar", tar([{ name: "etc", type: "2", linkname: "/etc" }])],
  ["/symlink-up.tar", tar([{ name: "a/up", type: "2", linkname: "../../outside" }])],
  ["/hardlink-up.tar", tar([{ name: "h", type: "1", linkname: "../outside.txt" }])],
  ["/device.tar", tar([{ name: "null", type: "3" }])],
  [
    "/through-link.tar",
    tar([
      { name: "d/", type: "5", mode: 0o755 },
      { name: "d/l", type: "2", linkname: ".." },
      { name: "d/l/x.txt", data: "written through a symlink" },
    ]),
  ],
  ["/many.tar", tar(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: "x" })))],
  ["/big.tar", tar([{ name: "big", data: "x".repeat(10_000) }])],
  ["/dotdot.zip", zip([{ name: "../evil.txt", data: "x" }])],
  ["/symlink-abs.zip", zip([{ name: "etc", data: "/etc", mode: 0o120777 }])],
  ["/bomb.tar.gz", gzipSync(new Uint8Array(50_000_000))],
]);

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    const body = files.get(new URL(req.url).pathname);
    return body ? new Response(body) : new Response("not found", { status: 404 });
  },
});
const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;

afterAll(() => {
  server.stop(true);
  if (driver) Bun.spawnSync(["umount", join(base, "data", "tasks")]);
  if (existsSync(join(base, "cli-data", "tasks"))) Bun.spawnSync(["umount", join(base, "cli-data", "tasks")]);
  rmSync(base, { recursive: true, force: true });
});

let dirCount = 0;
/** A fresh task dir with Nomad's local/. */
function taskDir(): string {
  const dir = join(base, `task-${dirCount++}`);
  mkdirSync(join(dir, "local"), { recursive: true });
  return dir;
}

async function fetchInto(
  input: Parameters<typeof parseArtifacts>[0],
  limits: Partial<ArtifactLimits> = {},
): Promise<string> {
  const dir = taskDir();
  await fetchArtifacts(parseArtifacts(input), { taskDir: dir, ...owner, limits });
  return dir;
}

async function failure(input: Parameters<typeof parseArtifacts>[0], limits: Partial<ArtifactLimits> = {}) {
  const dir = taskDir();
  try {
    await fetchArtifacts(parseArtifacts(input), { taskDir: dir, ...owner, limits });
  } catch (err) {
    return { err: err as Error, dir };
  }
  throw new Error("expected the artifact to fail");
}

function expectTree(root: string): void {
  expect(readFileSync(join(root, "hello.sh"), "utf8")).toBe("#!/bin/sh\necho hello-artifact\n");
  expect(lstatSync(join(root, "hello.sh")).mode & 0o777).toBe(0o755);
  expect(readFileSync(join(root, "sub", "data.txt"), "utf8")).toBe("data\n");
  expect(readlinkSync(join(root, "link"))).toBe("sub/data.txt");
  for (const p of ["hello.sh", "sub", "sub/data.txt", "link"]) {
    const st = lstatSync(join(root, p));
    expect([st.uid, st.gid]).toEqual([owner.uid, owner.gid]);
  }
}

describe("artifact validation", () => {
  const plugin = parsePluginConfig({});
  const withArtifact = (artifact: Record<string, unknown>) => ({
    config: { command: "/bin/true" },
    artifact: [artifact],
  });

  test("defaults: destination local/, mode any, archives unpacked", () => {
    const spec = parseTask(withArtifact({ source: url("/tree.tar.gz") }), plugin);
    expect(spec.artifacts).toEqual([
      { source: url("/tree.tar.gz"), destination: "local/", mode: "any", archive: true, headers: {} },
    ]);
  });

  test.each([
    [
      "ftp source",
      { source: "ftp://example.com/x" },
      "only http and https are supported",
      "/artifact/0/source",
    ],
    ["non-URL source", { source: "nope" }, "is not a URL", "/artifact/0/source"],
    [
      "escaping destination",
      { source: url("/x"), destination: "../../etc" },
      "escapes the task directory",
      "/artifact/0/destination",
    ],
    [
      "destination in secrets",
      { source: url("/x"), destination: "secrets/x" },
      "inside /secrets",
      "/artifact/0/destination",
    ],
    [
      "short checksum",
      { source: url("/x"), options: { checksum: "sha256:abc" } },
      "artifact checksum must be",
      "/artifact/0/options/checksum",
    ],
    [
      "unknown hash",
      { source: url("/x"), options: { checksum: "crc:00" } },
      "artifact checksum must be",
      "/artifact/0/options/checksum",
    ],
    [
      "unknown option",
      { source: url("/x"), options: { aws_access_key_id: "k" } },
      "is not supported",
      "/artifact/0/options/aws_access_key_id",
    ],
    [
      "unknown mode",
      { source: url("/x"), mode: "tree" },
      'artifact mode must be "any", "file" or "dir"',
      "/artifact/0/mode",
    ],
  ])("%s is refused", (_label, artifact, message, pointer) => {
    let err: unknown;
    try {
      parseTask(withArtifact(artifact), plugin);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toContain(message);
    expect((err as { issues: { path: string }[] }).issues[0]?.path).toBe(pointer);
  });

  test("go-getter's checksum in the URL query is honoured and stripped", () => {
    const [a] = parseArtifacts([{ source: `${url("/plain.txt")}?checksum=md5:${"0".repeat(32)}` }]);
    expect(a?.checksum).toBe(`md5:${"0".repeat(32)}`);
    expect(a?.source).toBe(url("/plain.txt"));
  });
});

describe("archives unpacked", () => {
  test.each(["/tree.tar.gz", "/tree.tgz", "/tree.tar", "/tree.zip"])(
    "%s into local/",
    async (path) => {
      const dir = await fetchInto([{ source: url(path) }]);
      expectTree(join(dir, "local"));
    },
    TIMEOUT,
  );

  test("a .gz file is decompressed next to its name", async () => {
    const dir = await fetchInto([{ source: url("/plain.txt.gz"), destination: "local/in" }]);
    expect(readFileSync(join(dir, "local", "in", "plain.txt"), "utf8")).toBe("plain file\n");
  });

  test("a plain file lands in the destination directory under its URL name", async () => {
    const dir = await fetchInto([{ source: url("/plain.txt") }]);
    expect(readFileSync(join(dir, "local", "plain.txt"), "utf8")).toBe("plain file\n");
    expect(lstatSync(join(dir, "local", "plain.txt")).uid).toBe(owner.uid);
  });

  test("mode = file saves at the destination path", async () => {
    const dir = await fetchInto([
      { source: url("/plain.txt"), destination: "local/conf/app.cfg", mode: "file" },
    ]);
    expect(readFileSync(join(dir, "local", "conf", "app.cfg"), "utf8")).toBe("plain file\n");
  });

  test("options.archive = false keeps an archive as is", async () => {
    const dir = await fetchInto([{ source: url("/tree.tar.gz"), options: { archive: "false" } }]);
    expect(readFileSync(join(dir, "local", "tree.tar.gz"))).toEqual(
      Buffer.from(files.get("/tree.tar.gz") ?? []),
    );
  });

  test("mode = dir without an archive is refused", async () => {
    const { err } = await failure([{ source: url("/plain.txt"), mode: "dir" }]);
    expect(err.message).toContain("mode = dir needs an archive source");
  });
});

describe("checksums and HTTP", () => {
  const sha256 = createHash("sha256")
    .update(files.get("/plain.txt") ?? new Uint8Array())
    .digest("hex");

  test("a matching checksum passes", async () => {
    const dir = await fetchInto([{ source: url("/plain.txt"), options: { checksum: `sha256:${sha256}` } }]);
    expect(existsSync(join(dir, "local", "plain.txt"))).toBe(true);
  });

  test("a mismatch fails, naming the expected and the actual digest", async () => {
    const wrong = "0".repeat(64);
    const { err, dir } = await failure([
      { source: url("/plain.txt"), options: { checksum: `sha256:${wrong}` } },
    ]);
    expect(err).toBeInstanceOf(ArtifactError);
    expect(err.message).toBe(
      `failed to download artifact "${url("/plain.txt")}": checksum mismatch: expected sha256:${wrong}, got sha256:${sha256}`,
    );
    expect(existsSync(join(dir, "local", "plain.txt"))).toBe(false);
  });

  test("HTTP 404 is a clear error", async () => {
    const { err } = await failure([{ source: url("/missing.tar.gz") }]);
    expect(err.message).toBe(
      `failed to download artifact "${url("/missing.tar.gz")}": bad response code: 404`,
    );
  });

  test("a download above http_max_size is refused", async () => {
    const { err } = await failure([{ source: url("/tree.tar") }], { httpMaxBytes: 1000 });
    expect(err.message).toContain("download is larger than 1000 bytes (http_max_size)");
  });
});

describe("limits and escapes refused", () => {
  test("decompression_size_limit stops a gzip bomb", async () => {
    const { err, dir } = await failure([{ source: url("/bomb.tar.gz") }], {
      decompressionSizeLimit: 1_000_000,
    });
    expect(err.message).toContain("archive unpacks to more than 1000000 bytes (decompression_size_limit)");
    expect(readdirSync(join(dir, "local"))).toEqual([]);
  });

  test("decompression_size_limit counts file data", async () => {
    const { err } = await failure([{ source: url("/big.tar") }], { decompressionSizeLimit: 5000 });
    expect(err.message).toContain("more than 5000 bytes");
  });

  test("decompression_file_count_limit", async () => {
    const { err } = await failure([{ source: url("/many.tar") }], { decompressionFileCountLimit: 10 });
    expect(err.message).toContain("more than 10 members (decompression_file_count_limit)");
  });

  test.each([
    ["/dotdot.tar", 'archive member "../evil.txt" escapes the destination'],
    ["/absolute.tar", 'archive member "/tmp/evil.txt" has an absolute path'],
    ["/symlink-abs.tar", 'archive symlink "etc" points to "/etc", outside the destination'],
    ["/symlink-up.tar", 'archive symlink "a/up" points to "../../outside", outside the destination'],
    ["/hardlink-up.tar", 'archive hard link "h" target "../outside.txt" escapes the destination'],
    ["/device.tar", 'archive member "null" is a device file; refused'],
    ["/through-link.tar", "is a symlink; refusing to write through it"],
    ["/dotdot.zip", 'archive member "../evil.txt" escapes the destination'],
    ["/symlink-abs.zip", 'archive symlink "etc" points to "/etc", outside the destination'],
  ])("%s", async (path, message) => {
    const { err, dir } = await failure([{ source: url(path) }]);
    expect(err).toBeInstanceOf(ArtifactError);
    expect(err.message).toContain(message);
    // Nothing outside local/: the task dir holds only what the test made.
    expect(readdirSync(dir)).toEqual(["local"]);
    expect(existsSync(join(base, "evil.txt"))).toBe(false);
  });
});

let driver: ExecDriver | undefined;

if (!isRoot) console.log("artifact task tests skipped: the exec driver needs root (uid 0)");

describe.skipIf(!isRoot)("artifacts in real tasks (as root)", () => {
  const plugin = parsePluginConfig({});
  const start = (artifact: Record<string, unknown>, command: string) => {
    driver ??= createExecDriver({ plugin, dataDir: join(base, "data") });
    return driver.start(
      parseTask({ name: `art-${process.pid}`, config: { command }, artifact: [artifact] }, plugin),
    );
  };

  test(
    "a command unpacked from an artifact is found in local/ and runs",
    async () => {
      const handle = await start({ source: url("/tree.tar.gz") }, "hello.sh");
      const [out, outcome] = await Promise.all([new Response(handle.stdout).text(), handle.wait()]);
      expect(out).toBe("hello-artifact\n");
      expect(outcome.exitCode).toBe(0);
    },
    TIMEOUT,
  );

  test(
    "a checksum mismatch fails the start and leaves no task dir behind",
    async () => {
      // Teardown of earlier tasks runs after their wait(): let it finish first.
      await driver?.drain();
      const tasks = driver?.tasksRoot ?? "";
      const before = existsSync(tasks) ? readdirSync(tasks) : [];
      const artifact = { source: url("/tree.tar.gz"), options: { checksum: `sha256:${"1".repeat(64)}` } };
      await expect(start(artifact, "hello.sh")).rejects.toThrow("checksum mismatch: expected sha256:1111");
      expect(existsSync(tasks) ? readdirSync(tasks) : []).toEqual(before);
    },
    TIMEOUT,
  );
});

describe.skipIf(!isRoot)("bunker run --task with Nomad's VolumeMounts and Artifacts (as root)", () => {
  test(
    "the task JSON's volume and artifact reach the task",
    async () => {
      const volume = join(base, "cli-volume");
      mkdirSync(volume);
      writeFileSync(join(volume, "host.txt"), "from the host volume\n");
      const pluginFile = join(base, "cli-plugin.json");
      writeFileSync(pluginFile, JSON.stringify({ host_volumes: { data: volume } }));
      const sha = createHash("sha256")
        .update(files.get("/plain.txt") ?? new Uint8Array())
        .digest("hex");
      const taskFile = join(base, "cli-task.json");
      writeFileSync(
        taskFile,
        JSON.stringify({
          Name: "cli",
          Driver: "exec",
          Config: { command: "/bin/sh", args: ["-c", "cat /local/plain.txt /data/host.txt"] },
          KillTimeout: 5_000_000_000,
          VolumeMounts: [
            { Volume: "data", Destination: "/data", ReadOnly: true, PropagationMode: "private" },
          ],
          Artifacts: [
            {
              GetterSource: url("/plain.txt"),
              GetterOptions: { checksum: `sha256:${sha}` },
              GetterHeaders: null,
              GetterMode: "any",
              RelativeDest: "local/",
            },
          ],
        }),
      );
      const proc = Bun.spawn([join(import.meta.dir, "../../bin/bunker"), "run", "--task", taskFile], {
        env: { ...process.env, BUNKER_PLUGIN_CONFIG: pluginFile, BUNKER_DATA_DIR: join(base, "cli-data") },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, err, code] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ]);
      expect(err).toBe("");
      expect(out).toBe("plain file\nfrom the host volume\n");
      expect(code).toBe(0);
    },
    TIMEOUT,
  );
});
