/**
 * Real `bunker serve` subprocesses for the records tests: each gets its own
 * data dir and port, a functions dir written by the test, and the database
 * the test names. Stopped with SIGKILL (a crash) or SIGTERM (a clean stop).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tempDir } from "../store/helpers.ts";

const dataDirs: string[] = [];

/** A data dir for a server; removeDataDirs() unmounts what the driver mounted in it, then deletes it. */
export function dataDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `bunker-${prefix}-`));
  dataDirs.push(dir);
  return dir;
}

/** Call from afterAll, after every server is stopped. */
export function removeDataDirs(): void {
  for (const dir of dataDirs.splice(0)) {
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((line) => line.split(" ")[4] ?? "")
      .filter((point) => point === dir || point.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const point of mounts) Bun.spawnSync(["umount", "-l", point]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const ROOT = join(import.meta.dir, "..", "..");

export interface ServeProcess {
  url: string;
  dataDir: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the server printed so far. */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<number>;
}

/** Writes function definitions (name -> JSON definition) into a fresh directory. */
export function functionsDir(defs: Record<string, Record<string, unknown>>): string {
  const dir = tempDir("fns");
  mkdirSync(dir, { recursive: true });
  for (const [name, def] of Object.entries(defs))
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(def));
  return dir;
}

function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export async function startServe(opts: {
  functions: string;
  databaseUrl?: string;
  dataDir?: string;
  env?: Record<string, string>;
}): Promise<ServeProcess> {
  const dir = opts.dataDir ?? dataDir("serve");
  const port = freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    BUNKER_PORT: String(port),
    BUNKER_DATA_DIR: dir,
    BUNKER_FUNCTIONS_DIR: opts.functions,
    BUNKER_POOL_MIN: "0",
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    ...opts.env,
  };
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "serve"], {
    cwd: ROOT,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) out += new TextDecoder().decode(chunk);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`bunker serve exited ${proc.exitCode}:\n${out}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok && out.includes("serving")) break;
    if (Date.now() > deadline) throw new Error(`bunker serve did not come up:\n${out}`);
    await Bun.sleep(50);
  }
  return {
    url,
    dataDir: dir,
    proc,
    output: () => out,
    async kill(signal) {
      if (proc.exitCode === null) proc.kill(signal);
      return proc.exited;
    },
  };
}
