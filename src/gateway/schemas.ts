import { z } from "zod";
import { ValidationError } from "../errors.ts";
import { zodIssues } from "../functions/issues.ts";
import { ScheduleSchema } from "../schedule/spec.ts";

/** Request and response shapes of the HTTP API; validation and /openapi.json share them. */

/** Validates request input; failures are 422 with every failing field as a JSON pointer. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new ValidationError(`invalid ${what}`, zodIssues(r.error));
  return r.data;
}

export const InvocationStatusSchema = z.enum([
  "queued",
  "running",
  "succeeded",
  "failed",
  "timeout",
  "cancelled",
  "error",
]);

export const InvocationQuerySchema = z.strictObject({
  function: z.string().min(1).max(63).optional(),
  status: InvocationStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

/** GET /system/invocations/{id}: `detail=true` adds usage and spans (what `bunker inspect` shows). */
export const InvocationGetQuerySchema = z.strictObject({
  detail: z.enum(["true", "false"]).optional(),
});

export const SignalRequestSchema = z.strictObject({
  signal: z.string().min(1).max(32).meta({ description: "Signal name (SIGHUP, HUP) or number" }),
  scope: z
    .enum(["main", "group", "all"])
    .default("main")
    .meta({ description: "main process, its group, or every process of the task" }),
});

export const InvocationRecordSchema = z.object({
  id: z.string(),
  function: z.string(),
  mode: z.enum(["sync", "async"]),
  status: InvocationStatusSchema,
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  durationMs: z.number().optional(),
  attempts: z.int(),
  exitCode: z.int().optional(),
  signal: z.int().nullable().optional(),
  reason: z.enum(["exited", "signaled", "timeout", "oom", "stopped", "setup_failed"]).optional(),
  error: z.string().optional(),
  stderrTail: z.string().optional(),
  idempotencyKey: z.string().optional(),
  callbackUrl: z.string().optional(),
  callbackStatus: z.int().nullable().optional(),
});

export const ProblemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
  })
  .meta({ description: "RFC 9457 problem details (application/problem+json)" });

export const AsyncAcceptedSchema = z.object({
  id: z.string(),
  function: z.string(),
  location: z.string(),
  replayed: z.boolean(),
});

export const FunctionSummarySchema = z.object({
  name: z.string(),
  source: z.enum(["file", "api"]),
  path: z.string().optional(),
  description: z.string().optional(),
  public: z.boolean(),
  timeoutMs: z.number(),
  maxInflight: z.int(),
  inflight: z.int(),
  schedule: ScheduleSchema.optional(),
});

export const InfoSchema = z.object({
  version: z.string(),
  driver: z.object({ exec: z.enum(["0", "1"]), health: z.string(), description: z.string() }),
  fingerprint: z.object({
    health: z.string(),
    description: z.string(),
    attributes: z.record(z.string(), z.string()),
  }),
  functions: z.int(),
  loadErrors: z.array(z.object({ path: z.string(), message: z.string() })),
  auth: z.enum(["tokens", "open"]),
});

/** GET /system/invocations/{id}/exec: Nomad `alloc exec` query. */
export const ExecQuerySchema = z.strictObject({
  command: z
    .string()
    .max(64 * 1024)
    .transform((s, ctx) => {
      try {
        const v = z.array(z.string().max(4096)).min(1).max(256).parse(JSON.parse(s));
        if (v[0] === "") throw new Error("empty command");
        return v as [string, ...string[]];
      } catch {
        ctx.addIssue({
          code: "custom",
          message: 'must be a JSON array of strings, like ["/bin/sh","-c","ls"]',
        });
        return z.NEVER;
      }
    })
    .meta({ description: 'Command and arguments as a JSON array, like ["/bin/sh"]' }),
  tty: z.enum(["true", "false", "1", "0"]).default("false").meta({ description: "Allocate a terminal" }),
  cols: z.coerce.number().int().min(1).max(1000).optional(),
  rows: z.coerce.number().int().min(1).max(1000).optional(),
});

/** Frames the client sends (JSON text frames). */
export const ExecClientFrameSchema = z.union([
  z.strictObject({ stdin: z.base64().meta({ description: "Bytes for the process's stdin" }) }),
  z.strictObject({
    resize: z.strictObject({ cols: z.int().min(1).max(1000), rows: z.int().min(1).max(1000) }),
  }),
  z.strictObject({ close: z.literal(true).meta({ description: "Close stdin (EOF)" }) }),
]);

/** Frames the server sends (JSON text frames); `exit` is last, then the socket closes. */
export const ExecServerFrameSchema = z.union([
  z.strictObject({ stdout: z.base64() }),
  z.strictObject({ stderr: z.base64() }),
  z.strictObject({ exit: z.int().meta({ description: "Exit code (128+N for signal N)" }) }),
  z.strictObject({ error: z.string().meta({ description: "Why exec failed or a frame was refused" }) }),
]);
