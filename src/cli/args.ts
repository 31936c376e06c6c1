/**
 * A small, strict flag parser: every flag is declared, unknown ones are an
 * error, and everything after `--` is the command. One line per mistake.
 */
import { ValidationError } from "../errors.ts";

export interface FlagSpec {
  /** "string" takes a value, "list" may repeat, "bool" takes none. */
  kind: "string" | "list" | "bool";
}

export interface Parsed {
  flags: Map<string, string[]>;
  rest: string[];
}

export function parseFlags(argv: string[], spec: Record<string, FlagSpec>, usage: string): Parsed {
  const flags = new Map<string, string[]>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      rest.push(...argv.slice(i));
      break;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const def = spec[name];
    if (!def) throw new ValidationError(`unknown flag --${name}; usage: ${usage}`);
    let value: string;
    if (def.kind === "bool") value = "true";
    else if (eq >= 0) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new ValidationError(`flag --${name} needs a value; usage: ${usage}`);
      value = next;
      i++;
    }
    const seen = flags.get(name) ?? [];
    if (def.kind !== "list" && seen.length > 0) throw new ValidationError(`flag --${name} given twice`);
    flags.set(name, [...seen, value]);
  }
  return { flags, rest };
}

export function one(p: Parsed, name: string): string | undefined {
  return p.flags.get(name)?.[0];
}

export function many(p: Parsed, name: string): string[] {
  return p.flags.get(name) ?? [];
}

/** A positive integer flag, or a one-line error naming it. */
export function intFlag(p: Parsed, name: string): number | undefined {
  const raw = one(p, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) {
    throw new ValidationError(`--${name} must be a positive whole number, got "${raw}"`);
  }
  return Number(raw);
}
