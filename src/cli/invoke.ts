/**
 * `bunker invoke NAME`: calls a function on a running server over HTTP. Stdout is the
 * function's stdout, the exit code its exit code (124 on timeout, 1 on any other error).
 * Also the small HTTP client the other client commands (functions, inspect) share.
 */
import { readFileSync } from "node:fs";
import type { Config } from "../config.ts";
import { BunkerError, errorMessage, ValidationError } from "../errors.ts";
import { type FlagSpec, many, one, type Parsed, parseFlags } from "./args.ts";

export const INVOKE_USAGE =
  "bunker invoke NAME [-d @FILE|-d -|-d TEXT] [--async] [--header K:V]... [--json] [--url URL] [--token T|@FILE]";

/** Flags of every command that talks to a server. */
export const CLIENT_FLAGS = { url: { kind: "string" }, token: { kind: "string" } } as const;

const FLAGS = {
  ...CLIENT_FLAGS,
  data: { kind: "string" },
  header: { kind: "list" },
  async: { kind: "bool" },
  json: { kind: "bool" },
} as const;

/** `timeout` exit code, as coreutils timeout(1) and `bunker run` use it. */
export const EXIT_TIMEOUT = 124;

/** Short spellings curl users type. */
const SHORT: Record<string, string> = { "-d": "--data", "-H": "--header" };

/**
 * Flags anywhere on the line, positionals collected in order (args.ts parseFlags stops at the
 * first positional; client commands read `NAME --flag` more naturally).
 */
export function parseCommand(
  argv: string[],
  spec: Record<string, FlagSpec>,
  usage: string,
): { positional: string[]; p: Parsed } {
  const positional: string[] = [];
  const flags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = SHORT[argv[i] ?? ""] ?? argv[i] ?? "";
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    flags.push(arg);
    const def = spec[arg.slice(2)];
    const next = argv[i + 1];
    if (def && def.kind !== "bool" && !arg.includes("=") && next !== undefined) {
      flags.push(next);
      i++;
    }
  }
  return { positional, p: parseFlags(flags, spec, usage) };
}

/** Talks to a running server: base URL and bearer token from flags or the config. */
export class ApiClient {
  readonly base: URL;
  readonly #token: string | undefined;

  constructor(p: Parsed, config: Config) {
    const host = config.BUNKER_HOST === "0.0.0.0" ? "127.0.0.1" : config.BUNKER_HOST;
    const url = one(p, "url") ?? `http://${host.includes(":") ? `[${host}]` : host}:${config.BUNKER_PORT}`;
    try {
      this.base = new URL(url);
    } catch {
      throw new ValidationError(`--url is not a URL: "${url}"`);
    }
    const token = one(p, "token");
    this.#token = token?.startsWith("@") ? readFileSync(token.slice(1), "utf8").trim() : token;
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#token !== undefined) headers.set("Authorization", `Bearer ${this.#token}`);
    const url = new URL(path, this.base);
    try {
      return await fetch(url, { ...init, headers, redirect: "manual" });
    } catch (err) {
      throw new BunkerError("unreachable", `cannot reach ${url.origin}: ${errorMessage(err)}`);
    }
  }

  /** GET a JSON document; a problem answer becomes a BunkerError with its detail. */
  async json<T>(path: string): Promise<T> {
    const res = await this.fetch(path);
    if (!res.ok) throw await responseError(res);
    return (await res.json()) as T;
  }
}

export interface ProblemBody {
  type?: string;
  title?: string;
  detail?: string;
  stderr_tail?: string;
  exit_code?: number;
  [k: string]: unknown;
}

export async function readProblem(res: Response): Promise<ProblemBody> {
  const text = await res.text();
  try {
    const p = JSON.parse(text) as unknown;
    if (typeof p === "object" && p !== null) return p as ProblemBody;
  } catch {
    // not JSON: keep the text
  }
  return { detail: text.trim().split("\n")[0] || res.statusText };
}

/** A non-2xx answer as one line: `HTTP 404: function "x" not found`. */
export async function responseError(res: Response, problem?: ProblemBody): Promise<BunkerError> {
  const p = problem ?? (await readProblem(res));
  return new BunkerError("http_error", `HTTP ${res.status}: ${p.detail ?? p.title ?? res.statusText}`);
}

async function requestBody(data: string | undefined): Promise<RequestInit["body"]> {
  if (data === undefined) return undefined;
  if (data === "-") return Bun.stdin.stream();
  if (data.startsWith("@")) {
    try {
      return readFileSync(data.slice(1));
    } catch (err) {
      throw new ValidationError(`-d ${data}: ${errorMessage(err)}`);
    }
  }
  return data;
}

function requestHeaders(p: Parsed): Headers {
  const headers = new Headers();
  for (const kv of many(p, "header")) {
    const colon = kv.indexOf(":");
    if (colon <= 0) throw new ValidationError(`--header must be NAME:VALUE, got "${kv}"`);
    try {
      headers.append(kv.slice(0, colon).trim(), kv.slice(colon + 1).trim());
    } catch {
      throw new ValidationError(`--header "${kv}" is not a valid HTTP header`);
    }
  }
  return headers;
}

/** The exit code of a finished call from its record (a streamed response has no trailer). */
async function recordedExit(client: ApiClient, id: string): Promise<number> {
  for (;;) {
    const r = await client.json<{ status: string; exitCode?: number }>(`/system/invocations/${id}`);
    if (r.status === "timeout") return EXIT_TIMEOUT;
    if (r.status !== "running" && r.status !== "queued")
      return r.exitCode ?? (r.status === "succeeded" ? 0 : 1);
    await Bun.sleep(20);
  }
}

/** 200 and 500 carry the function's own exit code; 504 is a timeout; anything else is ours. */
function exitOf(res: Response): number {
  if (res.status === 504) return EXIT_TIMEOUT;
  const header = res.headers.get("x-function-exit-code");
  const code = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  if (res.ok) return code ?? 0;
  return res.status === 500 && code !== undefined && code !== 0 ? code : 1;
}

/** A 200 that streamed has no exit code header: the finished record has it. */
async function exitOfSuccess(client: ApiClient, res: Response): Promise<number> {
  const id = res.headers.get("x-call-id");
  return res.headers.get("x-function-exit-code") === null && id !== null
    ? recordedExit(client, id)
    : exitOf(res);
}

async function streamSync(client: ApiClient, res: Response, err: (l: string) => void): Promise<number> {
  if (!res.ok) {
    const p = await readProblem(res);
    err(`bunker: ${(await responseError(res, p)).message}`);
    if (p.stderr_tail) err(p.stderr_tail.trimEnd());
    return exitOf(res);
  }
  try {
    for await (const chunk of res.body ?? []) await Bun.write(Bun.stdout, chunk);
  } catch (e) {
    // The server committed to 200 and streamed, then the function failed: the record says how.
    err(`bunker: the response was cut short: ${errorMessage(e)}`);
  }
  return exitOfSuccess(client, res);
}

/** --json: one object with the call's outcome and its body (UTF-8) or problem. */
async function jsonSync(client: ApiClient, res: Response): Promise<number> {
  const text = await res.text().catch((e: unknown) => `(cut short: ${errorMessage(e)})`);
  const exitCode = res.ok ? await exitOfSuccess(client, res) : exitOf(res);
  const isProblem = res.headers.get("content-type")?.startsWith("application/problem+json") ?? false;
  let problem: unknown;
  if (isProblem) {
    try {
      problem = JSON.parse(text);
    } catch {
      problem = text;
    }
  }
  const out = {
    id: res.headers.get("x-call-id"),
    status: res.status,
    exit_code: exitCode,
    duration_seconds: Number(res.headers.get("x-duration-seconds") ?? Number.NaN) || null,
    ...(isProblem ? { problem } : { body: text }),
  };
  console.log(JSON.stringify(out));
  return exitCode;
}

export async function invokeCommand(
  argv: string[],
  config: Config,
  err: (line: string) => void = console.error,
): Promise<number> {
  if (argv[0] === "--help") {
    console.log(`usage: ${INVOKE_USAGE}`);
    return 0;
  }
  const { positional, p } = parseCommand(argv, FLAGS, INVOKE_USAGE);
  const [name, ...extra] = positional;
  if (name === undefined || extra.length > 0) throw new ValidationError(`usage: ${INVOKE_USAGE}`);
  const client = new ApiClient(p, config);
  const body = await requestBody(one(p, "data"));
  const init: RequestInit = { method: "POST", headers: requestHeaders(p) };
  if (body !== undefined) Object.assign(init, { body, duplex: "half" });
  const fn = encodeURIComponent(name);
  if (one(p, "async") !== undefined) {
    const res = await client.fetch(`/async-function/${fn}`, init);
    if (res.status !== 202) throw await responseError(res);
    const accepted = (await res.json()) as { id: string };
    console.log(one(p, "json") !== undefined ? JSON.stringify(accepted) : accepted.id);
    return 0;
  }
  const res = await client.fetch(`/function/${fn}`, init);
  return one(p, "json") !== undefined ? jsonSync(client, res) : streamSync(client, res, err);
}
