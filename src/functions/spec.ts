import type { PoolSettings } from "../driver/api.ts";
import { parseDuration } from "../driver/config.ts";
import type { TaskSpec } from "../driver/types.ts";
import { ValidationError } from "../errors.ts";
import type { ScheduleSettings } from "../schedule/spec.ts";
import { zodIssues } from "./issues.ts";
import { isFunctionName } from "./name.ts";
import { FUNCTION_SETTING_KEYS, type FunctionSettings, FunctionSettingsSchema } from "./schema.ts";
import { parseSize } from "./units.ts";

/** Turns the task half of a function definition into a TaskSpec; throws ValidationError. */
export type TaskParser = (input: Record<string, unknown>, name: string) => TaskSpec;

/** A validated function, defaults applied: what invoke runs. */
export interface FunctionSpec {
  name: string;
  /** "file" functions are read-only through the API. */
  source: "file" | "api";
  /** The file it was read from. */
  path?: string;
  description?: string;
  timeoutMs: number;
  maxInflight: number;
  maxBodyBytes: number;
  maxOutputBytes: number;
  contentType: string;
  public: boolean;
  schedule?: ScheduleSettings;
  retry: { attempts: number; backoffMs: number };
  /** The function's own warm-pool settings (absent: the server's defaults). */
  pool?: PoolSettings;
  /** The task template; per-invocation env is merged in by invoke. */
  task: TaskSpec;
  /** The definition as written (what GET /system/functions/{name} returns). */
  definition: Record<string, unknown>;
}

export interface BuildOptions {
  source: "file" | "api";
  path?: string;
  parseTask: TaskParser;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates a whole definition; all failing fields are reported together as JSON pointers. */
export function buildFunctionSpec(name: string, input: unknown, opts: BuildOptions): FunctionSpec {
  if (!isFunctionName(name)) {
    throw new ValidationError(`function name "${name}" is not a DNS label (a-z, 0-9, "-", at most 63)`, [
      { path: "/name", message: "must be a DNS label: lower-case letters, digits and dashes, at most 63" },
    ]);
  }
  if (!isRecord(input)) {
    throw new ValidationError("a function definition must be an object", [
      { path: "", message: "expected object" },
    ]);
  }
  const settingsIn: Record<string, unknown> = {};
  const taskIn: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    if (k === "name") continue;
    if (FUNCTION_SETTING_KEYS.has(k)) settingsIn[k] = v;
    else taskIn[k] = v;
  }
  const issues: { path: string; message: string }[] = [];
  if (input.name !== undefined && input.name !== name) {
    issues.push({ path: "/name", message: `does not match the function name "${name}"` });
  }
  const settings = FunctionSettingsSchema.safeParse(settingsIn);
  if (!settings.success) issues.push(...zodIssues(settings.error));
  let task: TaskSpec | undefined;
  try {
    task = opts.parseTask(taskIn, name);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    issues.push(...(err.issues.length > 0 ? err.issues : [{ path: "", message: err.message }]));
  }
  if (!settings.success || task === undefined || issues.length > 0) {
    const first = issues[0];
    const where = first ? ` at ${first.path || "/"}: ${first.message}` : "";
    throw new ValidationError(`invalid function "${name}"${where}`, issues);
  }
  const s = settings.data;
  const timeoutMs = parseDuration(s.timeout, "timeout");
  const spec: FunctionSpec = {
    name,
    source: opts.source,
    timeoutMs,
    maxInflight: s.max_inflight,
    maxBodyBytes: parseSize(s.max_body) ?? 0,
    maxOutputBytes: parseSize(s.max_output) ?? 0,
    contentType: s.content_type,
    public: s.public,
    retry: {
      attempts: s.retry?.attempts ?? 1,
      backoffMs: parseDuration(s.retry?.backoff ?? "1s", "retry/backoff"),
    },
    task: { ...task, timeoutMs },
    definition: { ...input },
  };
  if (opts.path !== undefined) spec.path = opts.path;
  if (s.description !== undefined) spec.description = s.description;
  if (s.schedule !== undefined) spec.schedule = s.schedule;
  if (s.pool !== undefined) spec.pool = poolSettings(s.pool);
  return spec;
}

function poolSettings(p: NonNullable<FunctionSettings["pool"]>): PoolSettings {
  const out: PoolSettings = {};
  if (p.min !== undefined) out.min = p.min;
  if (p.max !== undefined) out.max = p.max;
  if (p.idle_ttl !== undefined) out.idleTtlMs = parseDuration(p.idle_ttl, "pool/idle_ttl");
  return out;
}
