import { readdirSync, readFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { errorMessage, ValidationError } from "../errors.ts";
import { buildFunctionSpec, type FunctionSpec, type TaskParser } from "./spec.ts";

/** One file that did not load: its path, why, and the failing fields as JSON pointers. */
export interface LoadError {
  path: string;
  message: string;
  issues: { path: string; message: string }[];
}

export interface LoadResult {
  functions: FunctionSpec[];
  errors: LoadError[];
}

/** Files in the functions folder that are not function definitions. */
const IGNORED = new Set(["function.schema.json"]);

export function parseFunctionFile(path: string, text: string): unknown {
  return extname(path) === ".toml" ? Bun.TOML.parse(text) : JSON.parse(text);
}

/**
 * Loads every `<name>.toml` / `<name>.json` in `dir`. A broken file becomes a LoadError
 * with its path and failing field; the others still load.
 */
export function loadFunctionDir(dir: string, parseTask: TaskParser): LoadResult {
  const result: LoadResult = { functions: [], errors: [] };
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && !IGNORED.has(e.name) && [".toml", ".json"].includes(extname(e.name)))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    result.errors.push({
      path: dir,
      message: `cannot read functions folder: ${errorMessage(err)}`,
      issues: [],
    });
    return result;
  }
  const seen = new Map<string, string>();
  for (const file of entries) {
    const path = join(dir, file);
    const name = basename(file, extname(file));
    const other = seen.get(name);
    if (other !== undefined) {
      result.errors.push({ path, message: `function "${name}" is already defined by ${other}`, issues: [] });
      continue;
    }
    try {
      const input = parseFunctionFile(path, readFileSync(path, "utf8"));
      result.functions.push(buildFunctionSpec(name, input, { source: "file", path, parseTask }));
      seen.set(name, path);
    } catch (err) {
      const issues = err instanceof ValidationError ? err.issues : [];
      result.errors.push({ path, message: `${path}: ${errorMessage(err)}`, issues });
    }
  }
  return result;
}
