/**
 * `bunker functions list [DIR]` (a folder of function files, or the running server's
 * functions) and `bunker functions validate [DIR]` (each broken file with its path and field).
 */
import { resolve } from "node:path";
import type { Config } from "../config.ts";
import { ValidationError } from "../errors.ts";
import { type LoadResult, loadFunctionDir } from "../functions/loader.ts";
import type { FunctionSpec } from "../functions/spec.ts";
import { taskParser } from "../functions/task.ts";
import { one } from "./args.ts";
import { ApiClient, CLIENT_FLAGS, parseCommand } from "./invoke.ts";
import { loadPluginConfig } from "./plugin.ts";

export const FUNCTIONS_USAGE = `bunker functions list [DIR] [--json] [--url URL] [--token T|@FILE]
       bunker functions validate [DIR]`;

const FLAGS = { ...CLIENT_FLAGS, json: { kind: "bool" } } as const;

interface Summary {
  name: string;
  source: string;
  path?: string;
  description?: string;
  public: boolean;
  timeoutMs: number;
  maxInflight: number;
  inflight?: number;
}

function loadDir(dir: string, config: Config): LoadResult {
  return loadFunctionDir(resolve(dir), taskParser(loadPluginConfig(config)));
}

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

function summaryOf(f: FunctionSpec): Summary {
  const { name, source, path, description, timeoutMs, maxInflight } = f;
  return {
    name,
    source,
    ...(path ? { path } : {}),
    ...(description ? { description } : {}),
    public: f.public,
    timeoutMs,
    maxInflight,
  };
}

function print(list: Summary[], json: boolean, out: (line: string) => void): void {
  if (json) {
    out(JSON.stringify(list));
    return;
  }
  const rows = [["NAME", "SOURCE", "PUBLIC", "TIMEOUT", "INFLIGHT", "DESCRIPTION"]];
  for (const f of list) {
    rows.push([
      f.name,
      f.path ?? f.source,
      f.public ? "yes" : "no",
      `${f.timeoutMs / 1000}s`,
      `${f.inflight ?? "-"}/${f.maxInflight}`,
      f.description ?? "",
    ]);
  }
  for (const line of table(rows)) out(line);
}

/** One line per failing field: `functions/x.toml: /timeout: must be a duration ...`. */
export function validationLines(result: LoadResult): string[] {
  const lines: string[] = [];
  for (const e of result.errors) {
    if (e.issues.length === 0) lines.push(`${e.path}: ${e.message.replace(`${e.path}: `, "")}`);
    for (const i of e.issues) lines.push(`${e.path}: ${i.path || "/"}: ${i.message}`);
  }
  return lines;
}

export async function functionsCommand(
  argv: string[],
  config: Config,
  out: (line: string) => void = console.log,
  err: (line: string) => void = console.error,
): Promise<number> {
  const { positional, p } = parseCommand(argv, FLAGS, FUNCTIONS_USAGE);
  const [sub, dir, ...extra] = positional;
  if (extra.length > 0) throw new ValidationError(`usage: ${FUNCTIONS_USAGE}`);
  const json = one(p, "json") !== undefined;
  switch (sub) {
    case "list": {
      if (dir !== undefined) {
        const result = loadDir(dir, config);
        print(result.functions.map(summaryOf), json, out);
        for (const line of validationLines(result)) err(line);
        return result.errors.length > 0 ? 1 : 0;
      }
      const client = new ApiClient(p, config);
      print((await client.json<{ functions: Summary[] }>("/system/functions")).functions, json, out);
      return 0;
    }
    case "validate": {
      const result = loadDir(dir ?? config.BUNKER_FUNCTIONS_DIR, config);
      for (const f of result.functions) out(`ok      ${f.name}  ${f.path ?? ""}`);
      for (const line of validationLines(result)) err(`invalid ${line}`);
      return result.errors.length > 0 ? 1 : 0;
    }
    default:
      throw new ValidationError(`usage: ${FUNCTIONS_USAGE}`);
  }
}
