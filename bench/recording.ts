/**
 * The cost of recording: throughput of no-op invocations (/bin/true) through
 * the invoker with recording off (in-memory log only) versus on (store sink
 * through the RecordWriter + OpenTelemetry spans recorded to the store and
 * FaaS metrics), in interleaved rounds of one run so both modes see the same
 * machine state. A recording round ends when the writer has committed all it
 * was given, so its throughput pays for the database work it caused. Prints
 * the ratio, writes bench/results/recording-<store>.json (postgres or pglite). Target: recording costs at
 * most 10 % of throughput.
 *
 * Also reported, because throughput on a shared 2-core machine is noisy: CPU
 * per invocation of this process (all its threads: the event loop, GC helpers
 * and, with PGlite, the embedded database), of the event loop and of the
 * PGlite thread alone, and,
 * on Linux with a local Postgres, of every postgres server process (the whole
 * server: a busy neighbour inflates it).
 *
 * The warm-up runs invocations of each mode first (`--warmup-calls`): 5,000
 * with Postgres, 20,000 with PGlite. JSC compiles PGlite's WASM and the
 * database thread's JavaScript while they run; per-thread CPU from /proc
 * showed its compiler threads ("JITWorker", "…Helper Thread") still adding
 * 0.1–0.3 ms per invocation after 5,000 recorded invocations on this busy
 * machine, and quiet (< 0.01 ms) after 20,000. A server pays that once, in
 * its first minute.
 *
 *   bun bench/recording.ts [--rounds 6] [--calls 200] [--concurrency 4] [--warmup-calls N]
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
import { createInvokeServices } from "../src/invoke/services.ts";
import { collect } from "../src/invoke/streams.ts";
import { openRecords } from "../src/store/runtime.ts";
import { createTelemetry } from "../src/telemetry/index.ts";
import { eventLoopCpuMs, pgliteCpuMs, postgresCpuMs } from "./lib/cpu.ts";
import { deleteRecordsOf } from "./lib/records.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "6" },
    calls: { type: "string", default: "200" },
    concurrency: { type: "string", default: "4" },
    "warmup-calls": { type: "string" },
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

const node = `bench-${process.pid}`;
const records = await openRecords({
  url: process.env.DATABASE_URL,
  dataDir: join(work, "data"),
  node,
  leaseMs: 30_000,
  retentionMs: 30 * 86_400_000,
  log: (line) => console.error(line),
});
const telemetry = createTelemetry({ recordSpan: (row) => records.writer.write({ kind: "span", row }) });
const base = { driver, lookup: (n: string) => functions.get(n), callbackSecret: "bench", globalLimit: 64 };
const off = createInvokeServices(base);
const on = createInvokeServices({ ...base, sinks: [records.sink], tracer: telemetry.invocations });

/** The database's own CPU: every postgres server process, or the PGlite thread (part of `process`). */
const database =
  records.database.driver === "postgres"
    ? { key: "postgresServer", cpuMs: postgresCpuMs }
    : { key: "pgliteThread", cpuMs: pgliteCpuMs };
const noCpu = () => ({ processMs: 0, eventLoopMs: 0, databaseMs: 0, calls: 0 });
const cpu = { off: noCpu(), on: noCpu() };

async function round(mode: "off" | "on"): Promise<number> {
  const services = mode === "on" ? on : off;
  let next = 0;
  // Read before this process's own CPU, so scanning /proc is not charged to it.
  const db0 = database.cpuMs();
  const loop0 = eventLoopCpuMs();
  const cpu0 = process.cpuUsage();
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
  // Recording is done when its records are committed, not when they are buffered.
  if (mode === "on") await records.writer.flush();
  const perSecond = calls / ((performance.now() - t0) / 1000);
  const used = process.cpuUsage(cpu0);
  const db1 = database.cpuMs();
  const loop1 = eventLoopCpuMs();
  cpu[mode].processMs += (used.user + used.system) / 1000;
  if (db0 !== null && db1 !== null) cpu[mode].databaseMs += db1 - db0;
  if (loop0 !== null && loop1 !== null) cpu[mode].eventLoopMs += loop1 - loop0;
  cpu[mode].calls += calls;
  return perSecond;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

// Warm-up of both paths (page cache, JIT, database connections), not measured.
const warmupCalls = Number(values["warmup-calls"] ?? (records.database.driver === "pglite" ? 20_000 : 5_000));
for (let warmed = 0; warmed < Math.max(calls, warmupCalls); warmed += calls) {
  await round("off");
  await round("on");
}
Object.assign(cpu, { off: noCpu(), on: noCpu() });
const results = { off: [] as number[], on: [] as number[] };
for (let i = 0; i < rounds; i++) {
  // Alternate which mode goes first so drift over the run hits both alike.
  const order = i % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const);
  for (const mode of order) results[mode].push(await round(mode));
  console.log(
    `round ${i + 1}: off ${results.off.at(-1)?.toFixed(1)} /s, on ${results.on.at(-1)?.toFixed(1)} /s`,
  );
}
const flushed = await records.writer.flush();
const ratio = median(results.on) / median(results.off);
const usPerCall = (ms: number, calls: number) => Math.round((ms / calls) * 1000);
const cpuPerInvocationUs = {
  process: {
    off: usPerCall(cpu.off.processMs, cpu.off.calls),
    on: usPerCall(cpu.on.processMs, cpu.on.calls),
  },
  // Part of `process`: the main thread alone.
  ...(eventLoopCpuMs() !== null
    ? {
        eventLoop: {
          off: usPerCall(cpu.off.eventLoopMs, cpu.off.calls),
          on: usPerCall(cpu.on.eventLoopMs, cpu.on.calls),
        },
      }
    : {}),
  ...(database.cpuMs() !== null
    ? {
        [database.key]: {
          off: usPerCall(cpu.off.databaseMs, cpu.off.calls),
          on: usPerCall(cpu.on.databaseMs, cpu.on.calls),
        },
      }
    : {}),
};
const summary = {
  benchmark: "recording",
  date: new Date().toISOString(),
  store: records.database.driver,
  rounds,
  callsPerRound: calls,
  warmupCalls,
  concurrency,
  invocationsPerSecond: { off: results.off, on: results.on },
  median: { off: median(results.off), on: median(results.on) },
  ratio,
  costPercent: (1 - ratio) * 100,
  targetPercent: 10,
  withinTarget: ratio >= 0.9,
  cpuPerInvocationUs,
  writer: flushed,
};
for (const [what, v] of Object.entries(cpuPerInvocationUs)) {
  console.log(`cpu per invocation, ${what}: off ${v.off} us, on ${v.on} us (+${v.on - v.off} us)`);
}
console.log(
  `recording off ${summary.median.off.toFixed(1)} /s, on ${summary.median.on.toFixed(1)} /s: ` +
    `ratio ${ratio.toFixed(3)} (cost ${summary.costPercent.toFixed(1)} %, target <= 10 %)`,
);
const out = join(import.meta.dir, "results", `recording-${records.database.driver}.json`);
mkdirSync(join(import.meta.dir, "results"), { recursive: true });
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`wrote ${out}`);
await deleteRecordsOf(records.database.db, node);
await records.close();
await telemetry.shutdown();
// The driver mounts its tasks directory; unmount it before deleting the scratch dir.
Bun.spawnSync(["umount", "-l", join(work, "driver", "tasks")]);
rmSync(work, { recursive: true, force: true });
