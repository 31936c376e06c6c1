/**
 * Bunker's system of record. One schema for Postgres and PGlite: only plain
 * Postgres types (no extensions), so the same generated migrations apply to both.
 * Closed vocabularies are text columns with CHECK constraints rather than
 * Postgres enums: adding a value later is a constraint swap, not an
 * `ALTER TYPE ... ADD VALUE` that cannot run inside a transaction.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  pgView,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

export const TRIGGERS = ["http", "async", "cron", "cli"] as const;
export type Trigger = (typeof TRIGGERS)[number];

export const INVOCATION_STATES = ["queued", "running", "succeeded", "failed", "lost", "cancelled"] as const;
export type InvocationState = (typeof INVOCATION_STATES)[number];

/** The driver's TerminationReason plus "lost" (the server died before the task's end was seen). */
export const REASONS = ["exited", "signaled", "timeout", "oom", "stopped", "setup_failed", "lost"] as const;
export type Reason = (typeof REASONS)[number];

export const JOB_STATES = ["queued", "leased", "done", "dead"] as const;
export type JobState = (typeof JOB_STATES)[number];

/** `col in ('a', 'b')` for a CHECK constraint; values are our own constants, never user input. */
function oneOf(column: string, values: readonly string[]) {
  return sql.raw(`${column} in (${values.map((v) => `'${v}'`).join(", ")})`);
}

/** Payloads are opaque bytes (an HTTP body); bytea keeps them exact. */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
});

/** Millisecond precision: exactly what a JS Date holds, so values round-trip and cursors compare exactly. */
const tstz = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: "date" });

export const functions = pgTable("functions", {
  name: text("name").primaryKey(),
  definition: jsonb("definition").$type<Record<string, unknown>>().notNull(),
  createdAt: tstz("created_at").notNull().defaultNow(),
  updatedAt: tstz("updated_at").notNull().defaultNow(),
});

export const invocations = pgTable(
  "invocations",
  {
    id: text("id").primaryKey(),
    function: text("function").notNull(),
    trigger: text("trigger").$type<Trigger>().notNull(),
    state: text("state").$type<InvocationState>().notNull(),
    /** Stable name of the server that ran it; markLost only touches its own node's rows. */
    node: text("node"),
    queuedAt: tstz("queued_at").notNull(),
    startedAt: tstz("started_at"),
    finishedAt: tstz("finished_at"),
    exitCode: integer("exit_code"),
    signal: integer("signal"),
    reason: text("reason").$type<Reason>(),
    warm: boolean("warm"),
    traceId: text("trace_id"),
    stdoutBytes: bigint("stdout_bytes", { mode: "number" }),
    stderrBytes: bigint("stderr_bytes", { mode: "number" }),
    stdoutTail: text("stdout_tail"),
    stderrTail: text("stderr_tail"),
    idempotencyKey: text("idempotency_key"),
    attempt: integer("attempt").notNull().default(1),
    error: text("error"),
    request: jsonb("request").$type<unknown>(),
  },
  (t) => [
    index("invocations_function_queued_at_idx").on(t.function, t.queuedAt),
    index("invocations_state_idx").on(t.state),
    // NULL keys never collide in a Postgres unique index, so only keyed calls are deduplicated.
    uniqueIndex("invocations_function_idempotency_key_uq").on(t.function, t.idempotencyKey),
    check("invocations_trigger_ck", oneOf("trigger", TRIGGERS)),
    check("invocations_state_ck", oneOf("state", INVOCATION_STATES)),
    check("invocations_reason_ck", oneOf("reason", REASONS)),
  ],
);

export const usage = pgTable("usage", {
  invocationId: text("invocation_id")
    .primaryKey()
    .references(() => invocations.id, { onDelete: "cascade" }),
  cpuUserMs: bigint("cpu_user_ms", { mode: "number" }).notNull(),
  cpuSystemMs: bigint("cpu_system_ms", { mode: "number" }).notNull(),
  memoryPeakBytes: bigint("memory_peak_bytes", { mode: "number" }).notNull(),
  maxRssBytes: bigint("max_rss_bytes", { mode: "number" }).notNull(),
  pidsPeak: integer("pids_peak").notNull(),
  // Only some cgroup layouts report these; NULL means "not measured", not zero.
  rssBytes: bigint("rss_bytes", { mode: "number" }),
  cacheBytes: bigint("cache_bytes", { mode: "number" }),
  swapBytes: bigint("swap_bytes", { mode: "number" }),
  throttledPeriods: bigint("throttled_periods", { mode: "number" }),
  throttledMs: bigint("throttled_ms", { mode: "number" }),
  ioReadBytes: bigint("io_read_bytes", { mode: "number" }),
  ioWriteBytes: bigint("io_write_bytes", { mode: "number" }),
  samples: jsonb("samples").$type<unknown[]>(),
});

/**
 * A stage span of an invocation, kept in its parent's row (`spans.stages`):
 * its id, name, and start and end in nanoseconds since the epoch (decimal
 * strings: they exceed 2^53). Its trace, parent and invocation are the row's;
 * its attributes are `a` when given, else the two every stage has
 * (`bunker.stage` = its name, `faas.invocation_id` = the row's invocation).
 */
export interface StageEntry {
  i: string;
  n: string;
  s: string;
  e: string;
  a?: Record<string, unknown>;
}

/** A span's own columns, as the table stores them and the span_rows view reads them back. */
const spanColumns = () => ({
  spanId: text("span_id").notNull(),
  traceId: text("trace_id").notNull(),
  parentSpanId: text("parent_span_id"),
  // No foreign key: gateway spans may be recorded before (or without) an invocation row.
  invocationId: text("invocation_id"),
  name: text("name").notNull(),
  // Nanoseconds since the epoch exceed 2^53, so they stay bigint end to end.
  startNs: bigint("start_ns", { mode: "bigint" }).notNull(),
  endNs: bigint("end_ns", { mode: "bigint" }).notNull(),
  attributes: jsonb("attributes").$type<Record<string, unknown>>(),
});

export const spans = pgTable(
  "spans",
  {
    ...spanColumns(),
    spanId: text("span_id").primaryKey(),
    /**
     * The span's stage children, one entry each instead of a row each: an
     * invocation has seven, and as rows they were most of what recording
     * cost the database (see span_rows for the one-row-per-span view).
     */
    stages: jsonb("stages").$type<StageEntry[]>(),
  },
  // Spans are read by invocation only; an index on trace_id cost every write and served no query.
  (t) => [index("spans_invocation_id_idx").on(t.invocationId)],
);

/**
 * Every span as a row: the stored rows, and each stage entry expanded under
 * its parent. Readers use this; writers write `spans`. A filter on
 * invocation_id reaches the spans index in both branches.
 */
export const spanRows = pgView("span_rows", spanColumns()).as(sql`
  select span_id, trace_id, parent_span_id, invocation_id, name, start_ns, end_ns, attributes from spans
  union all
  select s.e->>'i', p.trace_id, p.span_id, p.invocation_id, s.e->>'n',
         (s.e->>'s')::bigint, (s.e->>'e')::bigint,
         coalesce(s.e->'a', jsonb_build_object('bunker.stage', s.e->>'n', 'faas.invocation_id', p.invocation_id))
  from spans p cross join lateral jsonb_array_elements(p.stages) as s(e)
  where p.stages is not null`);

export const jobs = pgTable(
  "jobs",
  {
    id: text("id")
      .primaryKey()
      .references(() => invocations.id, { onDelete: "cascade" }),
    function: text("function").notNull(),
    payload: bytea("payload"),
    state: text("state").$type<JobState>().notNull().default("queued"),
    attempts: integer("attempts").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull().default(3),
    runAt: tstz("run_at").notNull().defaultNow(),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: tstz("lease_expires_at"),
    heartbeatAt: tstz("heartbeat_at"),
    lastError: text("last_error"),
  },
  (t) => [
    index("jobs_state_run_at_idx").on(t.state, t.runAt),
    check("jobs_state_ck", oneOf("state", JOB_STATES)),
  ],
);

export const SCHEDULE_RUN_KINDS = ["scheduled", "catch_up", "manual"] as const;
export type ScheduleRunKind = (typeof SCHEDULE_RUN_KINDS)[number];

/** "skipped" = not started by the overlap policy; "lost" = its server died while it ran. */
export const SCHEDULE_RUN_STATES = [
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "skipped",
  "lost",
] as const;
export type ScheduleRunState = (typeof SCHEDULE_RUN_STATES)[number];

/**
 * One row per (function, scheduled time): the primary key is the claim. Every server computes the
 * same due times and inserts with ON CONFLICT DO NOTHING; the one whose insert returns a row fires.
 */
export const scheduleRuns = pgTable(
  "schedule_runs",
  {
    function: text("function").notNull(),
    scheduledAt: tstz("scheduled_at").notNull(),
    kind: text("kind").$type<ScheduleRunKind>().notNull(),
    /** The expression that produced the time; null for manual runs. */
    cron: text("cron"),
    node: text("node").notNull(),
    // No foreign key: a skipped run has no invocation, and records may be written after the claim.
    invocationId: text("invocation_id"),
    state: text("state").$type<ScheduleRunState>().notNull(),
    /** The invocation's final status (succeeded, failed, timeout, cancelled, error). */
    outcome: text("outcome"),
    exitCode: integer("exit_code"),
    error: text("error"),
    claimedAt: tstz("claimed_at").notNull(),
    finishedAt: tstz("finished_at"),
  },
  (t) => [
    primaryKey({ name: "schedule_runs_pk", columns: [t.function, t.scheduledAt] }),
    index("schedule_runs_function_state_idx").on(t.function, t.state),
    check("schedule_runs_kind_ck", oneOf("kind", SCHEDULE_RUN_KINDS)),
    check("schedule_runs_state_ck", oneOf("state", SCHEDULE_RUN_STATES)),
  ],
);
