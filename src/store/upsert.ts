/**
 * Idempotent batch upserts of invocations, usage and spans, as statements of
 * fixed text whose rows travel as one JSON parameter, expanded in Postgres by
 * `json_to_recordset`. Why not drizzle's `insert().values(rows)`: that builds
 * a chunk per cell and a parameter per cell on the JS thread (hundreds of µs
 * per invocation), postgres.js then encodes every parameter, and every batch
 * size is a new statement for Postgres to parse. Here a batch costs one native
 * `JSON.stringify` and one pass of Postgres' JSON parser (`json`, not `jsonb`:
 * no binary copy of the whole batch with every object's keys sorted). The
 * statements are generated from the drizzle schema at load, so they follow
 * db/schema.ts; a column type this encoding cannot carry fails at load, not
 * at run time.
 *
 * A jsonb value travels as a JSON string inside the batch, read as text and
 * cast: `json_to_recordset` handles a nested object or array field slowly
 * (about 37 µs for a span's seven stage entries, Postgres 15 on the 2-core
 * VM), and a string field it only unescapes, leaving one pass of jsonb's own
 * parser. bench/record-writes.ts measured the server's CPU per recorded
 * invocation going from 134 to 77 µs with this (PGlite, Postgres 18: about
 * the same either way).
 */
import { getTableColumns, type SQL, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import { invocations, spans, usage } from "../../db/schema.ts";
import { type Queryable, statementRunner } from "./db.ts";
import { sqlState } from "./errors.ts";

type NewInvocation = typeof invocations.$inferInsert;
type NewUsage = typeof usage.$inferInsert;
type NewSpan = typeof spans.$inferInsert;

/** Column kinds whose JSON form Postgres reads back exactly (bigint as a decimal string). */
const JSON_SAFE = new Set([
  "PgText",
  "PgTimestamp",
  "PgInteger",
  "PgBoolean",
  "PgBigInt53",
  "PgBigInt64",
  "PgJsonb",
]);

/** One table's upsert, split around the place of its JSON parameter. */
export interface Upsert {
  /** `insert into t (cols) select … from json_to_recordset(` */
  readonly head: string;
  /** `::text::json) as r(…) on conflict … do update …` */
  readonly tail: string;
  /** The same without `on conflict`: a plain insert, which refuses a row already stored. */
  readonly insertTail: string;
  /** Properties whose values are re-encoded before the batch is serialised (see Encoding). */
  readonly encoded: readonly Encoded[];
}

/**
 * bigint: JSON.stringify refuses a JS bigint; sent as a decimal string.
 * jsonb: sent as its JSON text (see the header).
 * date: sent as its ISO string, as Date.toJSON would; done beforehand because
 * an object with a toJSON method takes JSON.stringify off its fast path
 * (in a loop in Bun, 1.9 µs instead of 0.35 µs per invocation row).
 */
type Encoding = "bigint" | "jsonb" | "date";

interface Encoded {
  readonly prop: string;
  readonly as: Encoding;
}

const ENCODING: Partial<Record<string, Encoding>> = {
  PgBigInt64: "bigint",
  PgJsonb: "jsonb",
  PgTimestamp: "date",
};

export interface UpsertShape {
  table: PgTable;
  name: string;
  key: string;
  /** coalesce: a NULL never erases a stored value; replace: the new row wins whole. */
  keep: "coalesce" | "replace";
  where?: string;
}

export function buildUpsert(shape: UpsertShape): Upsert {
  const columns = Object.entries(getTableColumns(shape.table)) as [string, PgColumn][];
  const encoded: Encoded[] = [];
  for (const [prop, column] of columns) {
    if (!JSON_SAFE.has(column.columnType)) {
      throw new Error(`${shape.name}.${column.name}: ${column.columnType} cannot be upserted from JSON`);
    }
    const as = ENCODING[column.columnType];
    if (as) encoded.push({ prop, as });
  }
  const names = columns.map(([, c]) => `"${c.name}"`).join(", ");
  const values = columns.map(([prop, c]) => fieldOrDefault(shape.name, prop, c)).join(", ");
  // Keys are the TypeScript property names, so rows are serialised as they are.
  const record = columns.map(([prop, c]) => `"${prop}" ${isJsonb(c) ? "text" : c.getSQLType()}`).join(", ");
  const set = columns
    .filter(([, c]) => c.name !== shape.key)
    .map(([, c]) =>
      shape.keep === "coalesce"
        ? `"${c.name}" = coalesce(excluded."${c.name}", "${shape.name}"."${c.name}")`
        : `"${c.name}" = excluded."${c.name}"`,
    )
    .join(", ");
  const insertTail = `::text::json) as r(${record})`;
  return {
    head: `insert into "${shape.name}" (${names}) select ${values} from json_to_recordset(`,
    tail: `${insertTail} on conflict ("${shape.key}") do update set ${set}${shape.where ? ` where ${shape.where}` : ""}`,
    insertTail,
    encoded,
  };
}

const isJsonb = (column: PgColumn) => column.columnType === "PgJsonb";

/** A missing field takes the column's default, as in a drizzle insert; only literal defaults exist here. */
function fieldOrDefault(table: string, prop: string, column: PgColumn): string {
  const field = isJsonb(column) ? `r."${prop}"::jsonb` : `r."${prop}"`;
  if ("defaultFn" in column && column.defaultFn !== undefined) {
    throw new Error(`${table}.${column.name}: a JS default cannot be applied in a JSON upsert`);
  }
  if (!column.hasDefault || column.default === undefined) return field;
  const d: unknown = column.default;
  if (typeof d === "number" || typeof d === "boolean") return `coalesce(${field}, ${String(d)})`;
  if (typeof d === "string") return `coalesce(${field}, '${d.replaceAll("'", "''")}')`;
  throw new Error(`${table}.${column.name}: only literal defaults can be applied in a JSON upsert`);
}

/**
 * Invocation rows: fields only fill in (a NULL never erases a stored value),
 * and a row without finished_at never overwrites a finished one, so a stale
 * "running" replayed after the final record is a no-op, while the true
 * outcome replayed after markLost still wins.
 */
const INVOCATIONS = buildUpsert({
  table: invocations,
  name: "invocations",
  key: "id",
  keep: "coalesce",
  // A row without finished_at never overwrites a finished one.
  where: `"invocations"."finished_at" is null or excluded."finished_at" is not null`,
});
const USAGE = buildUpsert({ table: usage, name: "usage", key: "invocation_id", keep: "replace" });
const SPANS = buildUpsert({ table: spans, name: "spans", key: "span_id", keep: "replace" });

function json(upsert: Upsert, rows: readonly object[]): string {
  const { encoded } = upsert;
  if (encoded.length === 0) return JSON.stringify(rows);
  const out: Record<string, unknown>[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row: Record<string, unknown> = { ...rows[i] };
    for (const { prop, as } of encoded) {
      const v = row[prop];
      if (v !== undefined && v !== null) row[prop] = encode(v, as);
    }
    out[i] = row;
  }
  return JSON.stringify(out);
}

function encode(value: unknown, as: Encoding): unknown {
  if (as === "jsonb") return JSON.stringify(value);
  if (as === "date") return value instanceof Date ? value.toISOString() : value;
  return typeof value === "bigint" ? value.toString() : value;
}

/** The statement text with its JSON parameter at `$n`. */
function text(upsert: Upsert, param: string): string {
  return `${upsert.head}${param}${upsert.tail}`;
}

const SPANS_TEXT = text(SPANS, "$1");
/**
 * All three upserts as one statement: one round trip and one commit per
 * batch, and atomic, so a batch cut short by an outage left nothing half
 * written. Usage may reference an invocation inserted by the sibling CTE:
 * the foreign key is checked at the end of the statement, when it is there.
 */
const RECORDS_TEXT = `with i as (${text(INVOCATIONS, "$1")}), u as (${text(USAGE, "$2")}) ${text(SPANS, "$3")}`;
/**
 * The same, but usage and spans as plain inserts: they are written once per
 * invocation and never refined, so outside a replay they never conflict, and
 * the `on conflict` arbiter check costs Postgres about a sixth of inserting a
 * span. A replay (a batch whose acknowledgement was lost, the journal) meets
 * a unique violation, rolls back whole, and is sent again as RECORDS_TEXT.
 */
const RECORDS_FIRST_TEXT =
  `with i as (${text(INVOCATIONS, "$1")}), ` +
  `u as (${USAGE.head}$2${USAGE.insertTail}) ${SPANS.head}$3${SPANS.insertTail}`;

/** Straight on the driver (prepared once per connection) when it can; through drizzle otherwise (transactions). */
async function run(db: Queryable, statement: string, params: readonly string[]): Promise<void> {
  const runner = statementRunner(db);
  if (runner) await runner(statement, params);
  else await db.execute(bind(statement, params));
}

/** Fixed text with `$n` placeholders as drizzle SQL. Our generated text holds no other `$`. */
function bind(statement: string, params: readonly string[]): SQL {
  const parts = statement.split(/\$(\d+)/);
  const chunks: SQL[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? "";
    chunks.push(i % 2 === 0 ? sql.raw(part) : sql`${params[Number(part) - 1]}`);
  }
  return sql.join(chunks);
}

export async function upsertSpans(db: Queryable, rows: readonly NewSpan[]): Promise<void> {
  if (rows.length > 0) await run(db, SPANS_TEXT, [json(SPANS, lastById(rows, spanKey))]);
}

export interface RecordRows {
  invocations: readonly NewInvocation[];
  usage: readonly NewUsage[];
  spans: readonly NewSpan[];
}

/** Upserts a batch of every kind in one statement (see RECORDS_TEXT and RECORDS_FIRST_TEXT). */
export async function upsertRecords(db: Queryable, rows: RecordRows): Promise<void> {
  const invocationsJson = json(INVOCATIONS, mergeInvocations(rows.invocations));
  const upsertParams = () => [
    invocationsJson,
    json(USAGE, lastById(rows.usage, usageKey)),
    json(SPANS, lastById(rows.spans, spanKey)),
  ];
  const runner = statementRunner(db);
  // In a transaction a failed statement would abort it: no second try there.
  if (!runner) {
    await db.execute(bind(RECORDS_TEXT, upsertParams()));
    return;
  }
  try {
    // Not deduplicated: a row twice in one batch is a unique violation like a replay, and handled alike.
    await runner(RECORDS_FIRST_TEXT, [invocationsJson, json(USAGE, rows.usage), json(SPANS, rows.spans)]);
  } catch (err) {
    if (sqlState(err) !== UNIQUE_VIOLATION) throw err;
    await runner(RECORDS_TEXT, upsertParams());
  }
}

const UNIQUE_VIOLATION = "23505";

/**
 * Postgres refuses to update one row twice in a single INSERT ... ON CONFLICT,
 * so rows for the same id are merged first, by the same rules as the upsert.
 */
function mergeInvocations(rows: readonly NewInvocation[]): NewInvocation[] {
  const byId = new Map<string, NewInvocation>();
  for (const row of rows) {
    const prev = byId.get(row.id);
    if (!prev) byId.set(row.id, row);
    else if (!(prev.finishedAt && !row.finishedAt)) byId.set(row.id, fillIn(prev, row));
  }
  return [...byId.values()];
}

/** prev with every field that row sets (not undefined or null) taken from row. */
function fillIn(prev: NewInvocation, row: NewInvocation): NewInvocation {
  const out: Record<string, unknown> = { ...prev };
  const fields = row as Record<string, unknown>;
  for (const key in fields) {
    const value = fields[key];
    if (value !== undefined && value !== null) out[key] = value;
  }
  return out as NewInvocation;
}

const usageKey = (r: NewUsage) => r.invocationId;
const spanKey = (r: NewSpan) => r.spanId;

function lastById<T>(rows: readonly T[], id: (row: T) => string): readonly T[] {
  if (rows.length < 2) return rows;
  const byId = new Map<string, T>();
  for (const row of rows) byId.set(id(row), row);
  return byId.size === rows.length ? rows : [...byId.values()];
}
