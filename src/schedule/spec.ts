/**
 * The `schedule` block of a function definition: zod schema (used by src/functions/schema.ts so
 * bad schedules are refused with the function, as JSON pointers) and the runtime form.
 */
import { z } from "zod";
import { parseDuration } from "../driver/config.ts";
import { errorMessage } from "../errors.ts";
import type { FunctionSpec } from "../functions/spec.ts";
import { type Cron, checkTimeZone, lastFireBetween, nextFire, parseCron } from "./cron.ts";

const CronString = z
  .string()
  .superRefine((v, ctx) => {
    try {
      parseCron(v);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: errorMessage(err) });
    }
  })
  .meta({ description: "5-field cron: minute hour day-of-month month day-of-week, or @hourly/@daily/..." });

export const OVERLAP_POLICIES = ["forbid", "allow", "replace"] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];
export const CATCH_UP_POLICIES = ["skip", "once"] as const;
export type CatchUpPolicy = (typeof CATCH_UP_POLICIES)[number];

const ScheduleObject = z
  .strictObject({
    cron: CronString.optional().meta({ description: "One cron expression (or use crons)" }),
    crons: z
      .array(CronString)
      .min(1)
      .max(16)
      .optional()
      .meta({ description: "Several cron expressions; the earliest next time wins (Nomad)" }),
    time_zone: z
      .string()
      .default("UTC")
      .superRefine((v, ctx) => {
        try {
          checkTimeZone(v);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: errorMessage(err) });
        }
      })
      .meta({ description: 'IANA time zone of the cron times, e.g. "Europe/Berlin" (default UTC)' }),
    payload: z
      .string()
      .max(1024 * 1024)
      .optional()
      .meta({ description: "Stdin of each scheduled run" }),
    enabled: z.boolean().default(true).meta({ description: "false keeps the schedule but fires nothing" }),
    overlap: z.enum(OVERLAP_POLICIES).default("allow").meta({
      description:
        "While the previous run still runs: forbid = skip this run (Nomad prohibit_overlap), allow, replace = stop it and start",
    }),
    catch_up: z
      .enum(CATCH_UP_POLICIES)
      .default("skip")
      .meta({ description: "Runs missed while no server was up: skip them, or run once" }),
    jitter: z
      .union([z.string(), z.number().nonnegative()])
      .superRefine((v, ctx) => {
        try {
          parseDuration(v, "jitter");
        } catch {
          ctx.addIssue({
            code: "custom",
            message: 'must be a duration like "30s" or a number of milliseconds',
          });
        }
      })
      .optional()
      .meta({ description: "Random delay up to this duration before each scheduled run starts" }),
  })
  .superRefine((v, ctx) => {
    if ((v.cron === undefined) === (v.crons === undefined)) {
      ctx.addIssue({ code: "custom", message: 'set exactly one of "cron" or "crons"', path: [] });
    }
  });

/** `schedule = "*\/5 * * * *"` is short for `schedule = { cron = "*\/5 * * * *" }`. */
export const ScheduleSchema = z
  .preprocess((v) => (typeof v === "string" ? { cron: v } : v), ScheduleObject)
  .meta({ description: "Run this function on cron schedules (scheduled batch jobs)" });

export type ScheduleSettings = z.output<typeof ScheduleSchema>;

/** A validated schedule, ready for the scheduler. */
export interface Schedule {
  function: string;
  crons: Cron[];
  timeZone: string;
  payload: Uint8Array | null;
  enabled: boolean;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  jitterMs: number;
}

export function toSchedule(fn: string, s: ScheduleSettings): Schedule {
  return {
    function: fn,
    crons: (s.crons ?? (s.cron === undefined ? [] : [s.cron])).map(parseCron),
    timeZone: checkTimeZone(s.time_zone),
    payload: s.payload === undefined ? null : new TextEncoder().encode(s.payload),
    enabled: s.enabled,
    overlap: s.overlap,
    catchUp: s.catch_up,
    jitterMs: s.jitter === undefined ? 0 : parseDuration(s.jitter, "jitter"),
  };
}

/**
 * The schedule of a function, or undefined. Read from the definition as written (validated
 * when the function was loaded), so it does not depend on how FunctionSpec spells it.
 */
export function scheduleOf(fn: FunctionSpec): Schedule | undefined {
  const raw = fn.definition.schedule;
  if (raw === undefined) return undefined;
  const parsed = ScheduleSchema.safeParse(raw);
  return parsed.success ? toSchedule(fn.name, parsed.data) : undefined;
}

/** The earliest next fire time over all of a schedule's crons (Nomad: the earliest wins). */
export function nextOf(s: Schedule, afterMs: number): number | undefined {
  let best: number | undefined;
  for (const c of s.crons) {
    const t = nextFire(c, afterMs, s.timeZone);
    if (t !== undefined && (best === undefined || t < best)) best = t;
  }
  return best;
}

/** The next `n` fire times over all crons, duplicates merged. */
export function nextNOf(s: Schedule, afterMs: number, n: number): number[] {
  const out: number[] = [];
  let t = afterMs;
  while (out.length < n) {
    const next = nextOf(s, t);
    if (next === undefined) break;
    out.push(next);
    t = next;
  }
  return out;
}

/** The latest fire time in (afterMs, untilMs] over all crons. */
export function lastOf(s: Schedule, afterMs: number, untilMs: number): number | undefined {
  let best: number | undefined;
  for (const c of s.crons) {
    const t = lastFireBetween(c, afterMs, untilMs, s.timeZone);
    if (t !== undefined && (best === undefined || t > best)) best = t;
  }
  return best;
}
