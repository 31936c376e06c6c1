import { z } from "zod";
import { parseDuration } from "../driver/config.ts";
import { ScheduleSchema } from "../schedule/spec.ts";
import { parseSize, SIZE_PATTERN } from "./units.ts";

function isDuration(v: string | number): boolean {
  try {
    return parseDuration(v, "duration") >= 0;
  } catch {
    return false;
  }
}

/**
 * Function-level settings of a function file. Every other top-level key is a Nomad task field
 * (`command`, `args`, `env`, `resources`, ...) validated by the task parser.
 */

export const Duration = z
  .union([z.string(), z.number().nonnegative()])
  .refine(isDuration, 'must be a duration like "500ms", "30s", "1m30s" or a number of milliseconds')
  .meta({ description: 'Duration: "500ms", "30s", "1m30s", or a number of milliseconds' });

export const Size = z
  .union([z.string().regex(new RegExp(SIZE_PATTERN)), z.int().nonnegative()])
  .refine((v) => parseSize(v) !== undefined, 'must be a size like "64KiB", "10MB" or a number of bytes')
  .meta({ description: 'Size: "64KiB", "10MB", "1GiB", or a number of bytes' });

export const RetrySchema = z
  .strictObject({
    attempts: z
      .int()
      .min(1)
      .max(10)
      .default(1)
      .meta({ description: "Total runs of an async call, 1 = no retry" }),
    backoff: Duration.default("1s").meta({ description: "Delay before the first retry; doubles each time" }),
  })
  .meta({ description: "Retry policy of async invocations (failed exit, timeout, setup failure)" });

export const PoolSchema = z
  .strictObject({
    min: z
      .int()
      .min(0)
      .max(64)
      .optional()
      .meta({ description: "Ready slots kept while the function is in use (0: none ahead)" }),
    max: z.int().min(1).max(256).optional().meta({ description: "Ready + preparing slots at most" }),
    idle_ttl: Duration.optional().meta({ description: "Unused this long, the ready slots are released" }),
  })
  .refine((p) => p.min === undefined || p.max === undefined || p.min <= p.max, {
    message: "min must not exceed max",
    path: ["min"],
  })
  .meta({ description: "This function's warm pool; absent fields take the server's BUNKER_POOL_* defaults" });

export const FunctionSettingsSchema = z.strictObject({
  description: z.string().max(1024).optional(),
  timeout: Duration.default("30s").meta({ description: "Wall-clock limit of one run; 504 after it" }),
  max_inflight: z.int().min(1).max(100_000).default(16).meta({ description: "Concurrent runs; 429 above" }),
  max_body: Size.default("1MiB").meta({ description: "Largest request body (stdin); 413 above" }),
  max_output: Size.default("10MiB").meta({ description: "Largest stdout; the task is stopped above" }),
  content_type: z
    .string()
    .min(1)
    .max(255)
    .default("text/plain; charset=utf-8")
    .meta({ description: "Content-Type of the response" }),
  public: z.boolean().default(false).meta({ description: "Invocable without a bearer token" }),
  schedule: ScheduleSchema.optional(),
  retry: RetrySchema.optional(),
  pool: PoolSchema.optional(),
});

export type FunctionSettingsInput = z.input<typeof FunctionSettingsSchema>;
export type FunctionSettings = z.output<typeof FunctionSettingsSchema>;

export const FUNCTION_SETTING_KEYS: ReadonlySet<string> = new Set(Object.keys(FunctionSettingsSchema.shape));
