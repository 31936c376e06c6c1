/**
 * Nomad's HTTP API `Task` JSON (what `nomad job inspect` / `GET /v1/job/:id` return) -> the
 * input `parseTask` takes, so a Nomad job's task can be run by Bunker unchanged.
 * The API spells absent values as null or 0 and times in nanoseconds; those become "unset" and
 * milliseconds here. Fields the exec driver does not use (Services, Templates, ...) are ignored.
 */
import { z } from "zod";
import { ValidationError } from "../errors.ts";
import { type BunkerTaskSpec, type ParseOptions, parseTask, type TaskInput } from "./config.ts";
import type { PluginConfig } from "./types.ts";

const nullableString = z.string().nullish();
const nullableNumber = z.number().nullish();
const nullableMap = z.record(z.string(), z.string()).nullish();

/** The part of api.Task the exec driver reads; other keys pass unchecked. */
export const nomadTaskSchema = z.looseObject({
  Name: nullableString,
  Driver: nullableString,
  Config: z.record(z.string(), z.unknown()).nullish(),
  User: nullableString,
  Env: nullableMap,
  Meta: nullableMap,
  KillTimeout: nullableNumber,
  KillSignal: nullableString,
  Resources: z
    .looseObject({
      CPU: nullableNumber,
      Cores: nullableNumber,
      MemoryMB: nullableNumber,
      MemoryMaxMB: nullableNumber,
    })
    .nullish(),
});

export type NomadTask = z.input<typeof nomadTaskSchema>;

const NS_PER_MS = 1_000_000;

/** Nomad Task JSON -> parseTask input. Throws for a non-exec driver. */
export function fromNomadTask(json: unknown): TaskInput {
  const parsed = nomadTaskSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: `/${i.path.join("/")}`, message: i.message }));
    throw new ValidationError(issues.map((i) => `${i.path}: ${i.message}`).join("; "), issues);
  }
  const t = parsed.data;
  checkDriver(t.Driver);
  const input: TaskInput = { config: (t.Config ?? {}) as TaskInput["config"], driver: "exec" };
  if (t.Name) input.name = t.Name;
  if (t.User) input.user = t.User;
  if (t.Env) input.env = t.Env;
  if (t.Meta) input.meta = t.Meta;
  if (t.KillSignal) input.kill_signal = t.KillSignal;
  if (t.KillTimeout !== null && t.KillTimeout !== undefined) input.kill_timeout = t.KillTimeout / NS_PER_MS;
  const resources = fromNomadResources(t.Resources);
  if (resources !== undefined) input.resources = resources;
  return input;
}

function checkDriver(driver: string | null | undefined): void {
  if (driver === "exec") return;
  const message = driver ? `driver ${JSON.stringify(driver)} is not exec` : "Missing task driver";
  throw new ValidationError(message, [{ path: "/Driver", message }]);
}

/** 0 and null mean "not set" in the API (Go zero values), so Bunker's defaults apply. */
function fromNomadResources(r: z.output<typeof nomadTaskSchema>["Resources"]): TaskInput["resources"] {
  if (!r) return undefined;
  const out: NonNullable<TaskInput["resources"]> = {};
  if (r.CPU) out.cpu = r.CPU;
  if (r.Cores) out.cores = r.Cores;
  if (r.MemoryMB) out.memory = r.MemoryMB;
  if (r.MemoryMaxMB) out.memory_max = r.MemoryMaxMB;
  return out;
}

/** parseTask over a Nomad Task, with error pointers in the API's field names (/Config/pid_mode). */
export function parseNomadTask(
  json: unknown,
  plugin: PluginConfig & { allowRoot?: boolean },
  opts: ParseOptions = {},
): BunkerTaskSpec {
  const input = fromNomadTask(json);
  try {
    return parseTask(input, plugin, opts);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const issues = err.issues.map((i) => ({ path: toNomadPointer(i.path), message: i.message }));
    throw new ValidationError(err.message, issues);
  }
}

const TOP_LEVEL: Readonly<Record<string, string>> = {
  name: "Name",
  config: "Config",
  user: "User",
  env: "Env",
  meta: "Meta",
  kill_signal: "KillSignal",
  kill_timeout: "KillTimeout",
  resources: "Resources",
};

const RESOURCE_FIELDS: Readonly<Record<string, string>> = {
  cpu: "CPU",
  cores: "Cores",
  memory: "MemoryMB",
  memory_max: "MemoryMaxMB",
};

function toNomadPointer(pointer: string): string {
  const [, first, ...rest] = pointer.split("/");
  if (first === undefined) return pointer;
  const top = TOP_LEVEL[first] ?? first;
  const tail = first === "resources" ? rest.map((r) => RESOURCE_FIELDS[r] ?? r) : rest;
  return ["", top, ...tail].join("/");
}
