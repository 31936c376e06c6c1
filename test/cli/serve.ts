import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = join(import.meta.dir, "../..");
export const MAIN = join(ROOT, "src/cli/main.ts");
export const FUNCTIONS_DIR = join(ROOT, "functions");
export const NOBODY = 65534;

export interface Bunker {
  url: string;
  pid: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** What the server printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Run as nobody (setpriv), which the driver fingerprints as "Driver must run as root". */
  asNobody?: boolean;
  env?: Record<string, string>;
}

/** Environment of a `bunker` subprocess: only what it needs, never the test runner's. */
export function cliEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dataDir,
    BUNKER_DATA_DIR: dataDir,
    BUNKER_FUNCTIONS_DIR: FUNCTIONS_DIR,
    BUNKER_PORT: "0",
    ...extra,
  };
}

/**
 * `bunker serve` in a subprocess on a free port (BUNKER_PORT=0; the URL is read from its
 * start-up line). Resolves once it serves; rejects with its output when it exits first.
 */
export async function startBunker(opts: StartOptions = {}): Promise<Bunker> {
  const dataDir = mkdtempSync(join(tmpdir(), "bunker-serve-"));
  if (opts.asNobody) chownSync(dataDir, NOBODY, NOBODY);
  const prefix = opts.asNobody ? ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"] : [];
  const proc = Bun.spawn([...prefix, process.execPath, MAIN, "serve"], {
    cwd: ROOT,
    env: cliEnv(dataDir, opts.env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const decoder = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) out += decoder.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([pump(proc.stdout), pump(proc.stderr)]);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /serving \d+ functions on (http:\/\/\S+?)\/?$/m.exec(out);
      if (m?.[1]) {
        clearInterval(timer);
        resolve(m[1]);
      }
    }, 20);
    void proc.exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`bunker serve exited with ${code} before serving:\n${out}`));
    });
  });
  return {
    url,
    pid: proc.pid,
    proc,
    output: () => out,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      await pumps.catch(() => {});
      // The driver mounts a tmpfs on <data dir>/tasks; a killed server leaves it mounted.
      Bun.spawnSync(["umount", join(dataDir, "tasks")], { stderr: "ignore" });
      try {
        rmSync(dataDir, { recursive: true, force: true });
      } catch {
        // EBUSY: the driver's tasks tmpfs may live in another mount namespace.
      }
    },
  };
}

/** Runs the `bunker` CLI to completion. */
export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), "bunker-cli-"));
  try {
    const proc = Bun.spawn([process.execPath, MAIN, ...args], {
      cwd: ROOT,
      env: cliEnv(dataDir, opts.env),
      stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { code, stdout, stderr };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
