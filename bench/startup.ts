/**
 * Startup benchmark: how long an isolated start of /bin/true takes with
 * Bunker, against the floor (Bun.spawn, no isolation) and two other ways to
 * get namespaces: util-linux `unshare` and bubblewrap, all in the same run.
 *
 *   bun bench/startup.ts [--runs N] [--warmup N] [--out FILE]
 *
 * Launchers run interleaved in rounds (A B C D A B C D ...) so machine noise
 * hits them alike. Sequential latency gives p50/p95/p99; throughput is
 * measured sequentially and with 2 starts in flight, in interleaved chunks.
 * Needs root (Bunker's driver and unshare's namespaces). Installs bubblewrap
 * with apt-get when `bwrap` is missing; skips it with a note if that fails.
 * Writes bench/results/startup.json.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createCgroupManager } from "../src/cgroup/index.ts";
import { parsePluginConfig, parseTask } from "../src/driver/config.ts";
import { createExecDriver } from "../src/driver/exec.ts";
import { gitCommit, machineInfo } from "./lib/machine.ts";
import { rounded, type Summary, summarize } from "./lib/stats.ts";
import { fixed, table } from "./lib/table.ts";

const ROOT = join(import.meta.dir, "..");
const CONCURRENCY = 2;
const CHUNK = 50;

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`bench/startup.ts: --${name} must be a positive whole number`);
    process.exit(2);
  }
  return v;
}

const runs = flag("runs", 500);
const warmup = flag("warmup", 20);
const outIndex = process.argv.indexOf("--out");
const outFile = outIndex > 0 ? process.argv[outIndex + 1]! : join(ROOT, "bench/results/startup.json");

interface Launcher {
  name: string;
  /** What it runs, for the result file. */
  command: string;
  /** One start of /bin/true to its exit; throws when the start did not succeed. */
  once(): Promise<void>;
}

async function spawnOk(argv: string[]): Promise<void> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const code = await p.exited;
  if (code !== 0)
    throw new Error(`${argv[0]} exited ${code}: ${(await new Response(p.stderr).text()).trim()}`);
}

const skipped: { name: string; reason: string }[] = [];
const launchers: Launcher[] = [];

launchers.push({
  name: "Bun.spawn (floor)",
  command: "Bun.spawn(['/bin/true'])",
  once: () => spawnOk(["/bin/true"]),
});

// ---- Bunker, through the library API, in a data dir and cgroup parent of its own.
const isRoot = process.getuid?.() === 0;
const dataDir = mkdtempSync(join(tmpdir(), "bunker-bench-startup-"));
const cgroupParent = `bunker-bench-startup-${process.pid}`;
let cleanupBunker = async () => {};
if (!isRoot) {
  skipped.push({ name: "Bunker", reason: "needs root (uid 0)" });
} else {
  const plugin = parsePluginConfig({});
  const cgroups = createCgroupManager({ parent: cgroupParent });
  const driver = createExecDriver({ plugin, dataDir, cgroups });
  const fp = driver.fingerprint();
  if (fp.health !== "healthy") {
    skipped.push({ name: "Bunker", reason: `driver ${fp.health}: ${fp.description}` });
  } else {
    const spec = parseTask({ name: "bench", config: { command: "/bin/true" } }, plugin);
    launchers.push({
      name: "Bunker (isolated)",
      command: "driver.start(/bin/true) + wait(), stdio null",
      async once() {
        const handle = await driver.start(spec, { stdin: "null", stdout: "null", stderr: "null" });
        const outcome = await handle.wait();
        if (outcome.exitCode !== 0) throw new Error(`bunker: ${outcome.reason} ${outcome.error ?? ""}`);
      },
    });
    cleanupBunker = async () => {
      await driver.close();
      await cgroups.reconcile(new Set());
      for (const mount of readdirSync("/sys/fs/cgroup")) {
        for (const parent of [cgroupParent, `${cgroupParent}.slice`]) {
          try {
            rmdirSync(`/sys/fs/cgroup/${mount}/${parent}`);
          } catch {
            // not every hierarchy has it
          }
        }
      }
    };
  }
}

// ---- util-linux unshare: namespaces only (no root switch, no cgroup, no capability drop).
const unshareArgv = ["unshare", "--pid", "--fork", "--ipc", "--mount", "--uts", "/bin/true"];
if (!Bun.which("unshare")) skipped.push({ name: "unshare", reason: "util-linux unshare not found" });
else if (!isRoot) skipped.push({ name: "unshare", reason: "needs root for these namespaces" });
else launchers.push({ name: "unshare", command: unshareArgv.join(" "), once: () => spawnOk(unshareArgv) });

// ---- bubblewrap with comparable isolation: pid/ipc/uts/mount namespaces, a read-only /usr root, no caps.
function ensureBwrap(): string | null {
  const found = Bun.which("bwrap");
  if (found) return found;
  if (!isRoot || !Bun.which("apt-get")) {
    skipped.push({ name: "bubblewrap", reason: "bwrap missing and apt-get unavailable (or not root)" });
    return null;
  }
  console.log("bwrap is missing: apt-get update && apt-get install -y bubblewrap ...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = Bun.spawnSync(["apt-get", "update", "-qq"], { env, stdout: "ignore", stderr: "pipe" });
  const install =
    update.exitCode === 0
      ? Bun.spawnSync(["apt-get", "install", "-y", "-qq", "bubblewrap"], {
          env,
          stdout: "ignore",
          stderr: "pipe",
        })
      : update;
  const path = Bun.which("bwrap");
  if (!path) {
    const why = install.stderr.toString().trim().split("\n").at(-1) ?? "";
    skipped.push({ name: "bubblewrap", reason: `apt-get install bubblewrap failed: ${why}` });
  }
  return path;
}

const bwrap = ensureBwrap();
if (bwrap) {
  const bwrapArgv = [
    bwrap,
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--cap-drop",
    "ALL",
    "/bin/true",
  ];
  launchers.push({ name: "bubblewrap", command: bwrapArgv.join(" "), once: () => spawnOk(bwrapArgv) });
}

for (const s of skipped) console.log(`skipped ${s.name}: ${s.reason}`);

// ---- Measure.

async function timed(l: Launcher): Promise<number> {
  const t0 = performance.now();
  await l.once();
  return performance.now() - t0;
}

/** `count` starts with CONCURRENCY in flight; returns the elapsed ms. */
async function concurrent(l: Launcher, count: number): Promise<number> {
  let left = count;
  const worker = async () => {
    while (left > 0) {
      left--;
      await l.once();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return performance.now() - t0;
}

const latencies = new Map<string, number[]>(launchers.map((l) => [l.name, []]));
const concurrentMs = new Map<string, number>(launchers.map((l) => [l.name, 0]));

try {
  console.log(`warming up: ${warmup} rounds of ${launchers.map((l) => l.name).join(", ")}`);
  for (let i = 0; i < warmup; i++) for (const l of launchers) await l.once();

  console.log(`sequential: ${runs} rounds, interleaved`);
  for (let i = 0; i < runs; i++) {
    for (const l of launchers) latencies.get(l.name)!.push(await timed(l));
  }

  console.log(
    `concurrent (${CONCURRENCY} in flight): ${runs} starts each, interleaved in chunks of ${CHUNK}`,
  );
  for (let done = 0; done < runs; done += CHUNK) {
    const n = Math.min(CHUNK, runs - done);
    for (const l of launchers) concurrentMs.set(l.name, concurrentMs.get(l.name)! + (await concurrent(l, n)));
  }
} finally {
  await cleanupBunker();
  rmSync(dataDir, { recursive: true, force: true });
}

// ---- Report.

interface LauncherResult {
  command: string;
  sequentialMs: Summary;
  startsPerSecSequential: number;
  startsPerSecConcurrent: number;
  p50RatioToFloor: number;
}

const floorP50 = summarize(latencies.get(launchers[0]!.name)!).p50;
const results: Record<string, LauncherResult> = {};
for (const l of launchers) {
  const values = latencies.get(l.name)!;
  const s = summarize(values);
  const total = values.reduce((a, b) => a + b, 0);
  results[l.name] = {
    command: l.command,
    sequentialMs: rounded({ ...s }),
    startsPerSecSequential: Math.round((values.length / total) * 1000 * 10) / 10,
    startsPerSecConcurrent: Math.round((runs / concurrentMs.get(l.name)!) * 1000 * 10) / 10,
    p50RatioToFloor: Math.round((s.p50 / floorP50) * 100) / 100,
  };
}

console.log("");
console.log(
  table(
    [
      "launcher",
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "starts/s (seq)",
      `starts/s (${CONCURRENCY} conc)`,
      "p50 / floor",
    ],
    Object.entries(results).map(([name, r]) => [
      name,
      fixed(r.sequentialMs.p50),
      fixed(r.sequentialMs.p95),
      fixed(r.sequentialMs.p99),
      fixed(r.startsPerSecSequential, 1),
      fixed(r.startsPerSecConcurrent, 1),
      `${fixed(r.p50RatioToFloor)}x`,
    ]),
  ),
);

const result = {
  benchmark: "startup",
  date: new Date().toISOString(),
  commit: gitCommit(ROOT),
  machine: machineInfo(),
  runs,
  warmup,
  concurrency: CONCURRENCY,
  launchers: results,
  skipped,
};
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwrote ${outFile}`);
