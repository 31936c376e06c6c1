import type { Context } from "hono";
import { BunkerError, ValidationError } from "../errors.ts";
import { BusyError } from "../invoke/errors.ts";

/**
 * RFC 9457 problem details. `type` is a stable URN per error code; `title` is fixed per code;
 * `detail` is about this occurrence. Validation problems carry `errors` with JSON pointers.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: { pointer: string; detail: string }[];
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** Every code the gateway answers with: HTTP status and fixed title. */
export const PROBLEM_CODES = {
  invalid: [422, "Invalid input"],
  malformed_body: [400, "Malformed request body"],
  bad_request: [400, "Bad request"],
  unsupported_media_type: [415, "Unsupported media type"],
  unauthorized: [401, "Authentication required"],
  forbidden: [403, "Missing scope"],
  route_not_found: [404, "No such route"],
  function_not_found: [404, "Function not found"],
  invocation_not_found: [404, "Invocation not found"],
  function_exists: [409, "Function already exists"],
  function_read_only: [409, "Function is read-only"],
  invocation_state: [409, "Invocation not in a suitable state"],
  invocation_cancelled: [409, "Invocation cancelled"],
  body_too_large: [413, "Request body too large"],
  headers_too_large: [431, "Request headers too large"],
  upgrade_required: [426, "WebSocket upgrade required"],
  busy: [429, "Too many concurrent invocations"],
  function_failed: [500, "Function failed"],
  setup_failed: [500, "Function could not be started"],
  output_too_large: [502, "Function output too large"],
  exec_unsupported: [501, "Exec not supported"],
  driver_unavailable: [503, "Driver unavailable"],
  function_timeout: [504, "Function timed out"],
  internal: [500, "Internal error"],
} as const satisfies Record<string, readonly [number, string]>;

export type ProblemCode = keyof typeof PROBLEM_CODES;

export function problemType(code: string): string {
  return `urn:bunker:problem:${code.replaceAll("_", "-")}`;
}

export function makeProblem(code: ProblemCode, detail: string, extra: Record<string, unknown> = {}): Problem {
  const [status, title] = PROBLEM_CODES[code];
  // Extensions never override the standard members (an error's detail may carry a "status").
  const { type: _t, title: _ti, status: _s, detail: _d, ...ext } = extra;
  return { type: problemType(code), title, status, detail, ...ext };
}

export function problemResponse(p: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(p), {
    status: p.status,
    headers: { "Content-Type": PROBLEM_CONTENT_TYPE, ...headers },
  });
}

function isProblemCode(code: string): code is ProblemCode {
  return Object.hasOwn(PROBLEM_CODES, code);
}

/** Any thrown value -> a problem response. Unknown errors become a 500 without internals. */
export function errorToResponse(err: unknown, c?: Context): Response {
  const instance = c?.req.path;
  const where = instance === undefined ? {} : { instance };
  if (err instanceof ValidationError) {
    return problemResponse(
      makeProblem("invalid", err.message, {
        ...where,
        errors: err.issues.map((i) => ({ pointer: i.path, detail: i.message })),
      }),
    );
  }
  if (err instanceof BusyError) {
    return problemResponse(makeProblem("busy", err.message, { ...where, ...err.detail }), {
      "Retry-After": String(err.retryAfterSeconds),
    });
  }
  if (err instanceof BunkerError && isProblemCode(err.code)) {
    // RFC 9110: a 426 names the protocol to switch to.
    const headers: Record<string, string> = err.code === "upgrade_required" ? { Upgrade: "websocket" } : {};
    return problemResponse(makeProblem(err.code, err.message, { ...where, ...err.detail }), headers);
  }
  console.error("bunker gateway: unexpected error", err);
  return problemResponse(makeProblem("internal", "an unexpected error occurred; see the server log", where));
}

/** Throwable problem for route code: `throw new ProblemError("bad_request", "...")`. */
export class ProblemError extends BunkerError {
  constructor(code: ProblemCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
    this.name = "ProblemError";
  }
}
