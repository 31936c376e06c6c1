/** `bunker inspect CALL_ID`: one invocation's record from the running server. */
import type { Config } from "../config.ts";
import { ValidationError } from "../errors.ts";
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

export function formatRecord(r: Record<string, unknown>): string[] {
  const keys = [...ORDER, ...Object.keys(r).filter((k) => !ORDER.includes(k) && k !== "stderrTail")];
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
  const record = await client.json<Record<string, unknown>>(`/system/invocations/${encodeURIComponent(id)}`);
  if (one(p, "json") !== undefined) out(JSON.stringify(record));
  else for (const line of formatRecord(record)) out(line);
  return 0;
}
