/**
 * What recording costs the database, without tasks around it: batches of the
 * records a finished invocation leaves (its running and final rows, usage,
 * and its span with the seven stage entries), built by the same code the
 * server uses (sink rows, the OpenTelemetry tracer and store span processor),
 * written with the writer's batch statement. Reports CPU per invocation of the
 * database (every postgres server process, or the PGlite thread) and of this
 * process's event loop (serialising the batch, the driver). Far steadier than
 * bench/recording.ts's throughput, so a change to the statements or the
 * schema can be judged with it; the throughput target stays recording.ts's.
 *
 *   bun bench/record-writes.ts [--batches 300] [--batch 60]
 *   DATABASE_URL=postgres://... to write to Postgres instead of PGlite.
 *
 * 60 invocations per batch is what the writer's 200 ms tick collects at 300
 * invocations per second.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { eq, sql } from "drizzle-orm";
import { invocations, spans } from "../db/schema.ts";
import type { InvocationRecord } from "../src/invoke/record.ts";
import { openDatabase } from "../src/store/db.ts";
import { type NewInvocation, type NewSpan, type NewUsage, usageRow } from "../src/store/records.ts";
import { toRow } from "../src/store/sink.ts";
import { upsertRecords } from "../src/store/upsert.ts";
import { createTelemetry } from "../src/telemetry/index.ts";
import { STAGES } from "../src/telemetry/names.ts";
import type { SpanRecord } from "../src/telemetry/store-spans.ts";
import { eventLoopCpuMs, pgliteCpuMs, postgresCpuMs } from "./lib/cpu.ts";
import { deleteRecordsOf } from "./lib/records.ts";

const { values } = parseArgs({
  options: { batches: { type: "string", default: "300" }, batch: { type: "string", default: "60" } },
});
const batches = Number(values.batches);
const perBatch = Number(values.batch);
if (!(Number.isInteger(batches) && batches > 0 && Number.isInteger(perBatch) && perBatch > 0)) {
  console.error("bench/record-writes.ts: --batches and --batch must be positive whole numbers");
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), "bunker-bench-record-writes-"));
const database = await openDatabase({ url: process.env.DATABASE_URL, dataDir: work });
const node = `bench-writes-${process.pid}`;
const captured: SpanRecord[] = [];
const telemetry = createTelemetry({ recordSpan: (span) => captured.push(span) });
let made = 0;

interface Rows {
  invocations: NewInvocation[];
  usage: NewUsage[];
  spans: NewSpan[];
}

/** One no-op invocation's records, as the sink and the span processor hand them to the writer. */
function invocationRows(into: Rows): void {
  made += 1;
  const id = `${node}-${made}`;
  const t = performance.now();
  const createdAt = new Date().toISOString();
  const trace = telemetry.invocations.begin({ id, function: "noop", mode: "sync", attempt: 1, startMs: t });
  const base: InvocationRecord = {
    id,
    function: "noop",
    mode: "sync",
    status: "running",
    createdAt,
    startedAt: createdAt,
    attempts: 1,
    warm: true,
    traceId: trace.traceId,
  };
  for (const [k, name] of STAGES.entries()) trace.stage(name, t + k * 0.1, t + k * 0.1 + 0.05);
  const usage = {
    cpuUserMs: 0,
    cpuSystemMs: 1,
    memoryPeakBytes: 262_144,
    pidsPeak: 1,
    maxRssBytes: 1_048_576,
  };
  const outcome = { reason: "exited" as const, exitCode: 0, signal: null, wallMs: 1, usage };
  trace.end({ status: "succeeded", outcome, pid: 4242, warm: true, endMs: t + 1 });
  const final: InvocationRecord = {
    ...base,
    status: "succeeded",
    finishedAt: new Date().toISOString(),
    exitCode: 0,
    reason: "exited",
  };
  into.invocations.push(toRow(base, node), toRow(final, node));
  into.usage.push(usageRow(id, usage));
  into.spans.push(...captured.splice(0));
}

function batch(): Rows {
  const rows: Rows = { invocations: [], usage: [], spans: [] };
  for (let i = 0; i < perBatch; i++) invocationRows(rows);
  return rows;
}

const databaseCpuMs = database.driver === "postgres" ? postgresCpuMs : pgliteCpuMs;

// Warm-up: the statements prepared, the JIT and the table's first pages.
for (let i = 0; i < Math.min(50, batches); i++) await upsertRecords(database.db, batch());
const ready = Array.from({ length: batches }, batch);
const db0 = databaseCpuMs();
const loop0 = eventLoopCpuMs();
const t0 = performance.now();
for (const rows of ready) await upsertRecords(database.db, rows);
const wallMs = performance.now() - t0;
const db1 = databaseCpuMs();
const loop1 = eventLoopCpuMs();

const n = batches * perBatch;
const us = (ms: number) => Math.round((ms / n) * 1000 * 10) / 10;
const cpu = (from: number | null, to: number | null) => (from !== null && to !== null ? us(to - from) : "?");
console.log(
  `${database.driver}: ${n} invocations in batches of ${perBatch}, per invocation: ` +
    `database ${cpu(db0, db1)} us CPU, event loop ${cpu(loop0, loop1)} us CPU, ${us(wallMs)} us wall`,
);

// Every invocation written (warm-up included) must be there, with its span: a batch that wrote
// nothing would look cheap.
const [stored] = await database.db
  .select({
    invocations: sql<number>`count(distinct ${invocations.id})::int`,
    spans: sql<number>`count(${spans.spanId})::int`,
  })
  .from(invocations)
  .leftJoin(spans, eq(spans.invocationId, invocations.id))
  .where(eq(invocations.node, node));
console.log(`stored: ${stored?.invocations ?? 0} of ${made} invocations, ${stored?.spans ?? 0} spans`);
const complete = stored?.invocations === made && stored.spans === made;

await deleteRecordsOf(database.db, node);
await database.close();
await telemetry.shutdown();
rmSync(work, { recursive: true, force: true });
if (!complete) {
  console.error("bench/record-writes.ts: not every invocation written was stored");
  process.exit(1);
}
