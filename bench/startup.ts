/**
 * Startup benchmark: how long an isolated start of /bin/true takes with
 * Bunker — warm (a ready pool slot) and cold (prepared on demand) — against
 * the floor (Bun.spawn, no isolation) and other ways to get namespaces:
 * util-linux `unshare`, bubblewrap and crun, all in the same run.
 *
 *   bun bench/startup.ts [--runs N] [--warmup N] [--out FILE]
 *
 * Launchers run interleaved in rounds (A B C D A B C D ...) so machine noise
 * hits them alike. Sequential latency gives p50/p90/p95/p99 and a log-bucket
 * histogram; between samples the work a start leaves behind (Bunker's
 * teardown and pool refill) is waited for untimed, so it never lands in the
 * next launcher's sample. Throughput is measured with 1, 2 and 8 starts in
 * flight, in interleaved chunks, and includes that work: a chunk ends when
 * its teardowns and refills are done. Needs root (Bunker's driver and unshare's namespaces).
 * Installs bubblewrap and crun with apt-get when missing; a peer that cannot
 * run is skipped with a note. Writes bench/results/startup.json, startup.md
 * and startup.svg.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createCgroupManager } from "../src/cgroup/index.ts";
import { parsePluginConfig, parseTask } from "../src/driver/config.ts";
import { createExecDriver } from "../src/driver/exec.ts";
import { WarmPool } from "../src/pool/pool.ts";
import { gitCommit, machineInfo } from "./lib/machine.ts";
import { quantile, rounded, type Summary, summarize } from "./lib/stats.ts";
import { fixed, table } from "./lib/table.ts";

const ROOT = join(import.meta.dir, "..");
const CONCURRENCIES = [1, 2, 8];
const CHUNK = 40;

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
  /**
   * Waits for the work a start leaves behind (Bunker: teardown of the ended
   * task, refill of the pool). Latency samples wait for it untimed, so one
   * launcher's leftovers never land in another's sample; throughput includes it.
   */
  settle?(): Promise<void>;
}

async function spawnOk(argv: string[]): Promise<void> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const code = await p.exited;
  if (code !== 0)
    throw new Error(`${argv[0]} exited ${code}: ${(await new Response(p.stderr).text()).trim()}`);
}

const skipped: { name: string; reason: string }[] = [];
/** Warm-launcher starts that found no ready slot (reported, so "warm" is not taken on faith). */
let warmMisses = 0;
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
    const warmSpec = parseTask({ name: "bench-warm", config: { command: "/bin/true" } }, plugin);
    // Enough ready slots for the widest concurrency measured; refilled in the background.
    const pool = new WarmPool(driver, { min: 8, max: 16, idleTtlMs: 600_000, globalMax: 32 });
    pool.warm(warmSpec);
    const io = { stdin: "null", stdout: "null", stderr: "null" } as const;
    launchers.push({
      name: "Bunker warm (pool)",
      command: "WarmPool.start(/bin/true) + wait(): a ready slot, launched",
      async once() {
        const handle = await pool.start(warmSpec, io);
        const outcome = await handle.wait();
        if (outcome.exitCode !== 0) throw new Error(`bunker: ${outcome.reason} ${outcome.error ?? ""}`);
        if (!handle.warm) warmMisses++;
      },
      settle: async () => {
        await driver.drain();
        await pool.settled();
      },
    });
    launchers.push({
      name: "Bunker cold",
      command: "driver.start(/bin/true) + wait(): task dir, cgroup, namespaces and root on demand",
      async once() {
        const handle = await driver.start(spec, io);
        const outcome = await handle.wait();
        if (outcome.exitCode !== 0) throw new Error(`bunker: ${outcome.reason} ${outcome.error ?? ""}`);
      },
      settle: () => driver.drain(),
    });
    cleanupBunker = async () => {
      await pool.close();
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

// ---- crun (OCI runtime, cgroups on): a bundle whose root is a read-only /usr with the usual links.
function aptInstall(pkg: string): boolean {
  if (!isRoot || !Bun.which("apt-get")) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  return (
    Bun.spawnSync(["apt-get", "install", "-y", "-qq", pkg], { env, stdout: "ignore", stderr: "ignore" })
      .exitCode === 0
  );
}

const crunBundle = mkdtempSync(join(tmpdir(), "bunker-bench-crun-"));
function crunLauncher(): Launcher | null {
  const crun = Bun.which("crun") ?? (aptInstall("crun") ? Bun.which("crun") : null);
  if (!crun) {
    skipped.push({ name: "crun", reason: "crun missing and could not be installed" });
    return null;
  }
  const rootfs = join(crunBundle, "rootfs");
  mkdirSync(join(rootfs, "usr"), { recursive: true });
  for (const [link, target] of [
    ["bin", "usr/bin"],
    ["lib", "usr/lib"],
    ["lib64", "usr/lib64"],
  ] as const) {
    Bun.spawnSync(["ln", "-s", target, join(rootfs, link)]);
  }
  const spec = Bun.spawnSync([crun, "spec"], { cwd: crunBundle });
  if (spec.exitCode !== 0) {
    skipped.push({ name: "crun", reason: `crun spec failed: ${spec.stderr.toString().trim()}` });
    return null;
  }
  const configPath = join(crunBundle, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8"));
  config.process.terminal = false;
  config.process.args = ["/bin/true"];
  config.root = { path: "rootfs", readonly: true };
  config.mounts.push({ destination: "/usr", type: "bind", source: "/usr", options: ["rbind", "ro"] });
  writeFileSync(configPath, JSON.stringify(config));
  let n = 0;
  const launcher: Launcher = {
    name: "crun",
    command: `crun run --bundle <bundle> (read-only /usr root, cgroups on)`,
    once: () => spawnOk([crun, "run", "--bundle", crunBundle, `bunker-bench-${process.pid}-${n++}`]),
  };
  return launcher;
}
const crun = isRoot ? crunLauncher() : null;
if (crun) {
  // crun 1.8 refuses this hybrid layout unless hugetlb is bound to v1 (PERF-NOTES): try once.
  try {
    await crun.once();
    launchers.push(crun);
  } catch (err) {
    skipped.push({ name: "crun", reason: `does not start on this host: ${String(err).split("\n")[0]}` });
  }
} else if (!isRoot) skipped.push({ name: "crun", reason: "needs root" });

for (const s of skipped) console.log(`skipped ${s.name}: ${s.reason}`);

// ---- Measure.

async function timed(l: Launcher): Promise<number> {
  const t0 = performance.now();
  await l.once();
  return performance.now() - t0;
}

/** `count` starts with `width` in flight; returns the elapsed ms. */
async function concurrent(l: Launcher, count: number, width: number): Promise<number> {
  let left = count;
  const worker = async () => {
    while (left > 0) {
      left--;
      await l.once();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: width }, worker));
  await l.settle?.();
  return performance.now() - t0;
}

const latencies = new Map<string, number[]>(launchers.map((l) => [l.name, []]));
/** launcher -> concurrency -> total ms for `runs` starts. */
const concurrentMs = new Map<string, Map<number, number>>(
  launchers.map((l) => [l.name, new Map(CONCURRENCIES.map((c) => [c, 0]))]),
);

try {
  console.log(`warming up: ${warmup} rounds of ${launchers.map((l) => l.name).join(", ")}`);
  for (let i = 0; i < warmup; i++) for (const l of launchers) await l.once();

  console.log(`sequential: ${runs} rounds, interleaved`);
  for (let i = 0; i < runs; i++) {
    for (const l of launchers) {
      latencies.get(l.name)!.push(await timed(l));
      await l.settle?.();
    }
  }

  for (const width of CONCURRENCIES) {
    console.log(`throughput (${width} in flight): ${runs} starts each, interleaved in chunks of ${CHUNK}`);
    for (let done = 0; done < runs; done += CHUNK) {
      const n = Math.min(CHUNK, runs - done);
      for (const l of launchers) {
        const byWidth = concurrentMs.get(l.name)!;
        byWidth.set(width, byWidth.get(width)! + (await concurrent(l, n, width)));
      }
    }
  }
} finally {
  await cleanupBunker();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(crunBundle, { recursive: true, force: true });
}

// ---- Report.

interface LauncherResult {
  command: string;
  sequentialMs: Summary & { p90: number };
  /** Log-spaced buckets (upper bound ms -> count), HDR-style, of the sequential latencies. */
  histogram: Record<string, number>;
  startsPerSecSequential: number;
  /** concurrency -> starts/s */
  startsPerSec: Record<string, number>;
  p50RatioToFloor: number;
}

/** Buckets of ~12% width from 0.1 ms up: enough resolution for tails without keeping every sample. */
function histogram(values: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const bucket = 0.1 * 1.125 ** Math.ceil(Math.log(Math.max(v, 0.1) / 0.1) / Math.log(1.125));
    const key = bucket.toFixed(3);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

const floorP50 = summarize(latencies.get(launchers[0]!.name)!).p50;
const results: Record<string, LauncherResult> = {};
for (const l of launchers) {
  const values = latencies.get(l.name)!;
  const s = summarize(values);
  const total = values.reduce((a, b) => a + b, 0);
  results[l.name] = {
    command: l.command,
    sequentialMs: rounded({ ...s, p90: quantile(values, 0.9) }),
    histogram: histogram(values),
    startsPerSecSequential: Math.round((values.length / total) * 1000 * 10) / 10,
    startsPerSec: Object.fromEntries(
      CONCURRENCIES.map((c) => [
        String(c),
        Math.round((runs / concurrentMs.get(l.name)!.get(c)!) * 1000 * 10) / 10,
      ]),
    ),
    p50RatioToFloor: Math.round((s.p50 / floorP50) * 100) / 100,
  };
}

const header = [
  "launcher",
  "p50 ms",
  "p90 ms",
  "p95 ms",
  "p99 ms",
  ...CONCURRENCIES.map((c) => `starts/s @${c}`),
  "p50 / floor",
];
const rows = Object.entries(results).map(([name, r]) => [
  name,
  fixed(r.sequentialMs.p50),
  fixed(r.sequentialMs.p90),
  fixed(r.sequentialMs.p95),
  fixed(r.sequentialMs.p99),
  ...CONCURRENCIES.map((c) => fixed(r.startsPerSec[String(c)] ?? 0, 1)),
  `${fixed(r.p50RatioToFloor)}x`,
]);
console.log("");
console.log(table(header, rows));
if (warmMisses > 0) console.log(`note: ${warmMisses} "warm" starts found no ready slot and ran cold`);

const result = {
  benchmark: "startup",
  date: new Date().toISOString(),
  commit: gitCommit(ROOT),
  machine: machineInfo(),
  runs,
  warmup,
  concurrencies: CONCURRENCIES,
  warmMisses,
  launchers: results,
  skipped,
};
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
const md = [
  "# Isolated start-up of /bin/true",
  "",
  `${result.date}, commit ${result.commit}, ${runs} interleaved runs per launcher (${warmup} warm-up).`,
  "Latency: one start at a time, the machine otherwise idle (Bunker's teardown and pool refill are",
  "awaited between samples, untimed). Throughput: starts/s including that teardown and refill.",
  "",
  `| ${header.join(" | ")} |`,
  `|${header.map(() => "---").join("|")}|`,
  ...rows.map((r) => `| ${r.join(" | ")} |`),
  "",
  ...skipped.map((s) => `- skipped ${s.name}: ${s.reason}`),
  warmMisses > 0 ? `- ${warmMisses} warm starts found no ready slot` : "",
  "",
  "![p50 and p99 per launcher](startup.svg)",
  "",
].join("\n");
writeFileSync(outFile.replace(/\.json$/, ".md"), md);
writeFileSync(outFile.replace(/\.json$/, ".svg"), barChart(results));
console.log(`\nwrote ${outFile} (+ .md, .svg)`);

/** A small SVG bar chart of p50 (solid) and p99 (outline) per launcher, log-free and readable in a diff. */
function barChart(r: Record<string, LauncherResult>): string {
  const entries = Object.entries(r);
  const max = Math.max(...entries.map(([, v]) => v.sequentialMs.p99));
  const rowH = 28;
  const width = 640;
  const left = 170;
  const scale = (ms: number) => ((width - left - 60) * ms) / max;
  const bars = entries
    .map(([name, v], i) => {
      const y = 30 + i * rowH;
      return [
        `<text x="${left - 8}" y="${y + 14}" text-anchor="end">${name}</text>`,
        `<rect x="${left}" y="${y}" width="${scale(v.sequentialMs.p99).toFixed(1)}" height="18" fill="none" stroke="#555"/>`,
        `<rect x="${left}" y="${y}" width="${scale(v.sequentialMs.p50).toFixed(1)}" height="18" fill="#2b6cb0"/>`,
        `<text x="${left + scale(v.sequentialMs.p99) + 6}" y="${y + 14}">${v.sequentialMs.p50.toFixed(2)} / ${v.sequentialMs.p99.toFixed(2)} ms</text>`,
      ].join("");
    })
    .join("\n");
  const height = 40 + entries.length * rowH;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
<text x="10" y="18" font-weight="bold">start to exit of /bin/true: p50 (filled) and p99 (outline)</text>
${bars}
</svg>
`;
}
