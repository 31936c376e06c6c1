/**
 * HTTP benchmark (issue: warm pool): a no-op function through Bunker's gateway
 * (warm pool on, recording on) against a bare Bun.serve + Bun.spawn server,
 * same load, same run, at every concurrency of bench/scenarios.json. The load
 * comes from autocannon in a separate Node process (the k6 scripts in
 * bench/k6 describe the same scenarios for machines that have k6).
 *
 *   bun bench/http.ts [--duration S]
 *
 * Writes bench/results/http.json and bench/results/http.md.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const shared = (await Bun.file(join(import.meta.dir, "scenarios.json")).json()) as {
  function: string;
  durationSeconds: number;
  concurrencies: number[];
  targets: { p50RatioMax: number; throughputRatioMin: number };
};
const durationArg = process.argv.indexOf("--duration");
const duration = durationArg > 0 ? Number(process.argv[durationArg + 1]) : shared.durationSeconds;

interface Run {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, fetch: () => new Response("") });
  const port = s.port!;
  s.stop(true);
  return port;
}

async function waitUp(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(50);
  }
  throw new Error(`${url} did not come up`);
}

function startBunker(port: number) {
  const dataDir = mkdtempSync(join(tmpdir(), "bunker-bench-http-"));
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "serve"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      BUNKER_PORT: String(port),
      BUNKER_DATA_DIR: dataDir,
      BUNKER_FUNCTIONS_DIR: join(import.meta.dir, "functions"),
      BUNKER_POOL_MIN: "2",
      BUNKER_POOL_MAX: "16",
      // Records go to Postgres when the bench is given one (the system of record), else PGlite.
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  return { proc, url: `http://127.0.0.1:${port}/function/${shared.function}` };
}

function startBare(port: number) {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "bare-spawn-server.ts")], {
    env: { PORT: String(port), PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdout: "ignore",
    stderr: "inherit",
  });
  return { proc, url: `http://127.0.0.1:${port}/` };
}

/** autocannon under Node, so the load generator is not the runtime under test. */
async function load(url: string, connections: number, seconds: number): Promise<Run> {
  const p = Bun.spawn(
    [
      "node",
      join(ROOT, "node_modules/autocannon/autocannon.js"),
      "-c",
      String(connections),
      "-d",
      String(seconds),
      "-j",
      url,
    ],
    { stdout: "pipe", stderr: "ignore" },
  );
  const out = await new Response(p.stdout).text();
  await p.exited;
  const r = JSON.parse(out) as {
    requests: { average: number };
    latency: { p50: number; p90: number; p99: number };
    errors: number;
    non2xx: number;
  };
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    errors: r.errors,
    non2xx: r.non2xx,
  };
}

/**
 * autocannon keeps whole milliseconds, which at one connection rounds the bare
 * server's ~0.8 ms to 0 or 1. So the single-connection latency is also timed
 * here to the microsecond: sequential keep-alive POSTs from a Node process,
 * interleaved between the two servers.
 */
const SEQUENTIAL = `
const http = require("node:http");
const [a, b, n] = [process.argv[1], process.argv[2], Number(process.argv[3])];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const once = (url) => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  const req = http.request(url, { method: "POST", agent }, (res) => {
    res.resume();
    res.on("end", () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
  });
  req.on("error", reject);
  req.end();
});
(async () => {
  const out = { a: [], b: [] };
  for (let i = 0; i < n; i++) { out.a.push(await once(a)); out.b.push(await once(b)); }
  console.log(JSON.stringify(out));
})();
`;

async function sequentialMs(a: string, b: string, n: number): Promise<{ a: number[]; b: number[] }> {
  const p = Bun.spawn(["node", "-e", SEQUENTIAL, a, b, String(n)], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return JSON.parse(out);
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;

const bunker = startBunker(await freePort());
const bare = startBare(await freePort());
try {
  await Promise.all([waitUp(bunker.url), waitUp(bare.url)]);
  // Warm both: the pool fills, JITs settle.
  await load(bunker.url, 2, 2);
  await load(bare.url, 2, 2);
  const rows: { concurrency: number; bunker: Run; bare: Run; p50Ratio: number; rpsRatio: number }[] = [];
  for (const c of shared.concurrencies) {
    process.stderr.write(`concurrency ${c}: bare... `);
    const b = await load(bare.url, c, duration);
    process.stderr.write("bunker...\n");
    const k = await load(bunker.url, c, duration);
    rows.push({
      concurrency: c,
      bunker: k,
      bare: b,
      p50Ratio: k.p50 / Math.max(b.p50, 0.001),
      rpsRatio: k.rps / b.rps,
    });
  }
  process.stderr.write("sequential, one connection, microsecond timing...\n");
  const seq = await sequentialMs(bare.url, bunker.url, 2000);
  const sequential = {
    bareP50Ms: median(seq.a),
    bunkerP50Ms: median(seq.b),
    p50Ratio: median(seq.b) / median(seq.a),
  };
  const lines = [
    `One connection, sequential (2000 requests each, interleaved): bare p50 ${sequential.bareP50Ms.toFixed(3)} ms, ` +
      `Bunker p50 ${sequential.bunkerP50Ms.toFixed(3)} ms, ratio ${sequential.p50Ratio.toFixed(2)} (target <= ${shared.targets.p50RatioMax}).`,
    "",
    "| concurrency | bare p50 ms | bunker p50 ms | p50 ratio | bare req/s | bunker req/s | req/s ratio | bunker p99 ms | errors |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.concurrency} | ${r.bare.p50} | ${r.bunker.p50} | ${r.p50Ratio.toFixed(2)} | ${r.bare.rps.toFixed(0)} | ${r.bunker.rps.toFixed(0)} | ${r.rpsRatio.toFixed(2)} | ${r.bunker.p99} | ${r.bunker.errors + r.bunker.non2xx} |`,
    ),
  ];
  console.log(lines.join("\n"));
  mkdirSync(join(import.meta.dir, "results"), { recursive: true });
  const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT })
    .stdout.toString()
    .trim();
  const result = {
    date: new Date().toISOString(),
    commit,
    durationSeconds: duration,
    targets: shared.targets,
    sequential,
    rows,
  };
  writeFileSync(join(import.meta.dir, "results/http.json"), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    join(import.meta.dir, "results/http.md"),
    `# HTTP no-op: Bunker gateway vs bare Bun.spawn server\n\n${result.date}, commit ${commit}, ${duration}s per point, autocannon.\n\n${lines.join("\n")}\n`,
  );
} finally {
  bunker.proc.kill("SIGTERM");
  bare.proc.kill("SIGTERM");
  await Promise.all([bunker.proc.exited, bare.proc.exited]);
}
