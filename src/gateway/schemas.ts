import { z } from "zod";

/** Request and response shapes of the HTTP API; validation and /openapi.json share them. */

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
  schedule: z.string().optional(),
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
