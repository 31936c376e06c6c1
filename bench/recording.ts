/**
 * The cost of recording: throughput of no-op invocations (/bin/true) through
 * the invoker with recording off (in-memory log only) versus on (store sink
 * through the RecordWriter + OpenTelemetry spans recorded to the store and
 * FaaS metrics), in interleaved rounds of one run so both modes see the same
 * machine state. Prints the ratio, writes bench/results/recording.json.
 * Target: recording costs at most 10 % of throughput.
 *
 *   bun bench/recording.ts [--rounds 6] [--calls 200] [--concurrency 4]
 *   DATABASE_URL=postgres://... to record into Postgres instead of PGlite.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parsePluginConfig } from "../src/driver/config.ts";
import { createExecDriver } from "../src/driver/exec.ts";
import { loadFunctionDir } from "../src/functions/loader.ts";
import { FunctionRegistry } from "../src/functions/registry.ts";
import { taskParser } from "../src/functions/task.ts";
import { createInvokeServices, type InvokeServices } from "../src/invoke/services.ts";
import { collect } from "../src/invoke/streams.ts";
import { openRecords } from "../src/store/runtime.ts";
import { createTelemetry } from "../src/telemetry/index.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "6" },
    calls: { type: "string", default: "200" },
    concurrency: { type: "string", default: "4" },
  },
});
const rounds = Number(values.rounds);
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);

const work = mkdtempSync(join(tmpdir(), "bunker-bench-recording-"));
const fnDir = join(work, "functions");
mkdirSync(fnDir);
writeFileSync(
  join(fnDir, "noop.json"),
  JSON.stringify({ command: "/bin/true", timeout: "10s", max_inflight: 64 }),
);
const plugin = parsePluginConfig({});
const parseTask = taskParser(plugin);
const driver = createExecDriver({ plugin, dataDir: join(work, "driver") });
if (driver.fingerprint().health !== "healthy") {
  console.error(`bench/recording: the exec driver is not usable: ${driver.fingerprint().description}`);
  process.exit(1);
}
const functions = new FunctionRegistry({ files: loadFunctionDir(fnDir, parseTask).functions, parseTask });
const noop = functions.get("noop");
if (!noop) throw new Error("noop function did not load");

const records = await openRecords({
  url: process.env.DATABASE_URL,
  dataDir: join(work, "data"),
  node: `bench-${process.pid}`,
  leaseMs: 30_000,
  retentionMs: 30 * 86_400_000,
  log: (line) => console.error(line),
});
const telemetry = createTelemetry({ recordSpan: (row) => records.writer.write({ kind: "span", row }) });
const base = { driver, lookup: (n: string) => functions.get(n), callbackSecret: "bench", globalLimit: 64 };
const off = createInvokeServices(base);
const on = createInvokeServices({ ...base, sinks: [records.sink], tracer: telemetry.invocations });

async function round(services: InvokeServices): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < calls) {
      next += 1;
      const running = await services.invoker.start({
        fn: noop as NonNullable<typeof noop>,
        mode: "sync",
        env: {},
      });
      await collect(running.stdout);
      const r = await running.result;
      if (r.status !== "succeeded") throw new Error(`noop ${r.status}: ${r.error ?? ""}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return calls / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

// Warm-up of both paths (page cache, JIT, database connections), not measured.
await round(off);
await round(on);
const results = { off: [] as number[], on: [] as number[] };
for (let i = 0; i < rounds; i++) {
  // Alternate which mode goes first so drift over the run hits both alike.
  const order = i % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const);
  for (const mode of order) results[mode].push(await round(mode === "on" ? on : off));
  console.log(
    `round ${i + 1}: off ${results.off.at(-1)?.toFixed(1)} /s, on ${results.on.at(-1)?.toFixed(1)} /s`,
  );
}
const flushed = await records.writer.flush();
const ratio = median(results.on) / median(results.off);
const summary = {
  benchmark: "recording",
  date: new Date().toISOString(),
  store: records.database.driver,
  rounds,
  callsPerRound: calls,
  concurrency,
  invocationsPerSecond: { off: results.off, on: results.on },
  median: { off: median(results.off), on: median(results.on) },
  ratio,
  costPercent: (1 - ratio) * 100,
  targetPercent: 10,
  withinTarget: ratio >= 0.9,
  writer: flushed,
};
console.log(
  `recording off ${summary.median.off.toFixed(1)} /s, on ${summary.median.on.toFixed(1)} /s: ` +
    `ratio ${ratio.toFixed(3)} (cost ${summary.costPercent.toFixed(1)} %, target <= 10 %)`,
);
const out = join(import.meta.dir, "results", "recording.json");
mkdirSync(join(import.meta.dir, "results"), { recursive: true });
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`wrote ${out}`);
await records.close();
await telemetry.shutdown();
// The driver mounts its tasks directory; unmount it before deleting the scratch dir.
Bun.spawnSync(["umount", "-l", join(work, "driver", "tasks")]);
rmSync(work, { recursive: true, force: true });
