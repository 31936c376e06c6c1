/** `bunker inspect CALL_ID`: one invocation's record, usage and span tree from the running server. */
import type { Config } from "../config.ts";
import { ValidationError } from "../errors.ts";
import type { SpanView } from "../gateway/ui/data.ts";
import { one } from "./args.ts";
import { ApiClient, CLIENT_FLAGS, parseCommand } from "./invoke.ts";

export const INSPECT_USAGE = "bunker inspect CALL_ID [--json] [--url URL] [--token T|@FILE]";

const FLAGS = { ...CLIENT_FLAGS, json: { kind: "bool" } } as const;

/** Fields in reading order; the multi-line stderr tail comes last. */
const ORDER = [
  "id",
  "function",
  "mode",
  "status",
  "exitCode",
  "signal",
  "reason",
  "error",
  "attempts",
  "createdAt",
  "startedAt",
  "finishedAt",
  "durationMs",
  "idempotencyKey",
  "callbackUrl",
  "callbackStatus",
  "traceId",
];

/** Shown in sections of their own, not as `key value` lines. */
const SECTIONS = new Set(["stderrTail", "usage", "spans", "spansMeasured"]);

export function formatRecord(r: Record<string, unknown>): string[] {
  const keys = [...ORDER, ...Object.keys(r).filter((k) => !ORDER.includes(k) && !SECTIONS.has(k))];
  const lines = keys.filter((k) => r[k] !== undefined).map((k) => `${k.padEnd(16)}${String(r[k])}`);
  if (typeof r.stderrTail === "string" && r.stderrTail !== "") {
    lines.push(
      "stderr (tail):",
      ...r.stderrTail
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`),
    );
  }
  lines.push(...formatUsage(r.usage), ...formatSpans(r.spans, r.spansMeasured === true));
  return lines;
}

function formatUsage(usage: unknown): string[] {
  if (typeof usage !== "object" || usage === null) return [];
  const u = usage as Record<string, unknown>;
  const mib = (v: unknown) => (typeof v === "number" ? `${(v / 2 ** 20).toFixed(1)} MiB` : "-");
  return [
    "usage:",
    `  cpu             ${String(u.cpuUserMs)} ms user, ${String(u.cpuSystemMs)} ms system`,
    `  memory peak     ${mib(u.memoryPeakBytes)} (max RSS ${mib(u.maxRssBytes)})`,
    `  pids peak       ${String(u.pidsPeak)}`,
    ...(typeof u.throttledMs === "number" ? [`  throttled       ${u.throttledMs} ms`] : []),
  ];
}

/** The span tree, children under their parent in start order, with start offset and duration. */
function formatSpans(spans: unknown, measured: boolean): string[] {
  if (!Array.isArray(spans) || spans.length === 0) return [];
  const list = spans as SpanView[];
  const ids = new Set(list.map((s) => s.id));
  const children = new Map<string | null, SpanView[]>();
  for (const s of list) {
    const parent = s.parent !== null && ids.has(s.parent) ? s.parent : null;
    const siblings = children.get(parent);
    if (siblings) siblings.push(s);
    else children.set(parent, [s]);
  }
  const t0 = Math.min(...list.map((s) => s.startMs));
  const lines = [measured ? "spans:" : "spans (from the record's times):"];
  const walk = (parent: string | null, depth: number) => {
    for (const s of (children.get(parent) ?? []).sort((a, b) => a.startMs - b.startMs)) {
      const name = `${"  ".repeat(depth + 1)}${s.name}`;
      lines.push(
        `${name.padEnd(24)} +${(s.startMs - t0).toFixed(3)} ms  ${(s.endMs - s.startMs).toFixed(3)} ms`,
      );
      walk(s.id, depth + 1);
    }
  };
  walk(null, 0);
  return lines;
}

export async function inspectCommand(
  argv: string[],
  config: Config,
  out: (line: string) => void = console.log,
): Promise<number> {
  const { positional, p } = parseCommand(argv, FLAGS, INSPECT_USAGE);
  const [id, ...extra] = positional;
  if (id === undefined || extra.length > 0) throw new ValidationError(`usage: ${INSPECT_USAGE}`);
  const client = new ApiClient(p, config);
  const record = await client.json<Record<string, unknown>>(
    `/system/invocations/${encodeURIComponent(id)}?detail=true`,
  );
  if (one(p, "json") !== undefined) out(JSON.stringify(record));
  else for (const line of formatRecord(record)) out(line);
  return 0;
}
