/**
 * Composition root: reads the config, builds every part, starts serving.
 * The only place that knows how the boxes of ARCHITECTURE.md fit together.
 */
import { hostname } from "node:os";
import { resolve } from "node:path";
import { execDriverFor, loadPluginConfig } from "./cli/plugin.ts";
import type { Config } from "./config.ts";
import type { ExecDriver } from "./driver/exec.ts";
import { errorMessage } from "./errors.ts";
import { loadFunctionDir } from "./functions/loader.ts";
import { FunctionRegistry } from "./functions/registry.ts";
import { taskParser } from "./functions/task.ts";
import { type RunningServer, startServer } from "./gateway/server.ts";
import { parseTokensEnv } from "./gateway/tokens.ts";
import { FDS_PER_SLOT, WarmPool } from "./pool/pool.ts";
import { clockFromEnv, startScheduler } from "./schedule/index.ts";
import type { Database } from "./store/db.ts";
import { parseAge } from "./store/retention.ts";
import { openRecords, type Records } from "./store/runtime.ts";
import { createTelemetry, otlpFromEnv, type Telemetry } from "./telemetry/index.ts";

export const VERSION = "0.1.0";

/** The warm pool in front of the driver, unless BUNKER_POOL_MIN is 0. */
function poolFor(config: Config, exec: ExecDriver): WarmPool | null {
  if (config.BUNKER_POOL_MIN === 0) return null;
  return new WarmPool(exec, {
    min: config.BUNKER_POOL_MIN,
    max: Math.max(config.BUNKER_POOL_MAX, config.BUNKER_POOL_MIN),
    globalMax: config.BUNKER_POOL_GLOBAL_MAX,
    idleTtlMs: config.BUNKER_POOL_IDLE_TTL * 1000,
  });
}

/**
 * Schedules (issue 7). Claims live in the database, so servers sharing one Postgres fire each
 * due time once. Uses the server's own Database (PGlite must be opened once per data dir).
 */
async function startJobs(
  database: Database,
  server: RunningServer,
  functions: FunctionRegistry,
  log: (line: string) => void,
): Promise<void> {
  try {
    const scheduler = await startScheduler({
      functions,
      invoker: server.services.invoker,
      db: database.db,
      node: `${hostname()}:${server.url.port}`,
      // Test-only scaled clock (test/schedule/two-servers.test.ts); belongs in config.ts.
      clock: clockFromEnv(process.env.BUNKER_TEST_CLOCK),
      log,
    });
    const stop = server.stop;
    server.stop = async () => {
      await scheduler.stop();
      await stop();
    };
  } catch (err) {
    log(`bunker: schedules are off: ${errorMessage(err)}`);
  }
}

/** Pool, queue and writer gauges on the shared meter (served at /metrics). */
function registerGauges(telemetry: Telemetry, server: RunningServer, records: Records): void {
  const admission = server.services.invoker.admission;
  telemetry.gauge(
    "bunker.invocations.inflight",
    "Runs holding a slot now",
    "{invocation}",
    () => admission.total,
  );
  telemetry.gauge(
    "bunker.queue.leased",
    "Async jobs this server holds a lease on",
    "{job}",
    () => records.queue.active,
  );
  telemetry.gauge(
    "bunker.queue.pending",
    "Async jobs pushed here and not yet claimed",
    "{job}",
    () => records.queue.size,
  );
  telemetry.gauge(
    "bunker.records.buffered",
    "Records waiting in memory",
    "{record}",
    () => records.writer.counters.buffered,
  );
  telemetry.gauge(
    "bunker.records.journaled",
    "Records waiting in the journal",
    "{record}",
    () => records.writer.counters.journaled,
  );
}

/** The warm pool per function (ready, preparing) and what its idle slots cost. */
function registerPoolGauges(telemetry: Telemetry, pool: WarmPool): void {
  const perFunction = (field: "ready" | "preparing") => () =>
    Object.entries(pool.stats()).map(([name, s]) => ({ value: s[field], attributes: { "faas.name": name } }));
  telemetry.gauge("bunker.pool.ready", "Ready slots (warm starts waiting)", "{slot}", perFunction("ready"));
  telemetry.gauge("bunker.pool.preparing", "Slots being prepared", "{slot}", perFunction("preparing"));
  telemetry.gauge(
    "bunker.pool.fds",
    "File descriptors the ready slots hold in the server",
    "{fd}",
    () => pool.readySlots() * FDS_PER_SLOT,
  );
  telemetry.gauge(
    "bunker.pool.memory",
    "Proportional set size of the ready slots' processes",
    "By",
    () => pool.footprint().pssBytes,
  );
}

/**
 * server.stop() also drains the records (the writer's buffer reaches the
 * database or the journal) and telemetry; SIGTERM and SIGINT call it once.
 */
function closeWithServer(
  server: RunningServer,
  records: Records,
  telemetry: Telemetry,
  drivers: { pool: WarmPool | null; exec: ExecDriver },
): void {
  const stop = server.stop;
  let stopping: Promise<void> | undefined;
  server.stop = () => {
    stopping ??= (async () => {
      await stop();
      // Ready slots and finished tasks are torn down before the records close.
      await drivers.pool?.close();
      await drivers.exec.close();
      await records.queue.close();
      await records.close();
      await telemetry.shutdown().catch(() => {});
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void server.stop().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
}

export async function serve(
  config: Config,
  log: (line: string) => void = console.log,
): Promise<RunningServer> {
  const plugin = loadPluginConfig(config);
  const exec = execDriverFor(config, plugin);
  const fp = exec.fingerprint();
  if (fp.health === "healthy") {
    const leftovers = await exec.recover();
    const n = leftovers.cgroups.length + leftovers.taskDirs.length;
    if (n > 0) log(`bunker: removed ${n} leftovers of a previous run`);
  } else {
    // ARCHITECTURE rule 5: the server still starts; invocations answer 503 with the reason.
    log(`bunker: exec driver is ${fp.health}: ${fp.description}`);
  }
  const pool = poolFor(config, exec);
  const driver = pool ?? exec;
  const parseTask = taskParser(plugin);
  const dir = resolve(config.BUNKER_FUNCTIONS_DIR);
  const loaded = loadFunctionDir(dir, parseTask);
  for (const e of loaded.errors) log(`bunker: skipped ${e.path}: ${e.message}`);
  const functions = new FunctionRegistry({ files: loaded.functions, parseTask });
  // Slots for every known function get ready in the background, so even the first call is warm.
  if (pool && fp.health === "healthy") for (const fn of functions.list()) pool.warm(fn.task, fn.pool);
  const records = await openRecords({
    url: config.DATABASE_URL,
    dataDir: config.dataDir,
    node: config.BUNKER_NODE ?? `${hostname()}:${config.dataDir}`,
    leaseMs: config.BUNKER_JOB_LEASE_MS,
    retentionMs: parseAge(config.BUNKER_RETENTION),
    log,
  });
  const telemetry = createTelemetry({
    serviceVersion: VERSION,
    // The exporters read the other OTEL_EXPORTER_OTLP_* variables (headers, timeouts) themselves.
    otlp: otlpFromEnv(process.env),
    recordSpan: (row) => records.writer.write({ kind: "span", row }),
  });
  const server = startServer({
    port: config.BUNKER_PORT,
    hostname: config.BUNKER_HOST,
    version: VERSION,
    driver,
    functions,
    loadErrors: loaded.errors,
    tokens: config.BUNKER_TOKENS ? parseTokensEnv(config.BUNKER_TOKENS) : [],
    ...(config.BUNKER_CALLBACK_SECRET ? { callbackSecret: config.BUNKER_CALLBACK_SECRET } : {}),
    metrics: () => telemetry.metrics(),
    db: records.database.db,
    httpTracer: telemetry.http,
    ...(pool ? { pool: () => ({ ...pool.footprint(), functions: pool.stats() }) } : {}),
    records: {
      sinks: [records.sink],
      queue: records.queue,
      reader: (memory) => records.reader(memory),
      tracer: telemetry.invocations,
    },
    log,
  });
  registerGauges(telemetry, server, records);
  if (pool) registerPoolGauges(telemetry, pool);
  closeWithServer(server, records, telemetry, { pool, exec });
  await startJobs(records.database, server, functions, log);
  log(`bunker: serving ${loaded.functions.length} functions on ${server.url.href}`);
  return server;
}
