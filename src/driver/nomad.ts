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
  VolumeMounts: z
    .array(
      z.looseObject({
        Volume: nullableString,
        Destination: nullableString,
        ReadOnly: z.boolean().nullish(),
        PropagationMode: nullableString,
      }),
    )
    .nullish(),
  Artifacts: z
    .array(
      z.looseObject({
        GetterSource: nullableString,
        GetterOptions: nullableMap,
        GetterHeaders: nullableMap,
        GetterMode: nullableString,
        RelativeDest: nullableString,
      }),
    )
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
  if (t.VolumeMounts && t.VolumeMounts.length > 0)
    input.volume_mount = t.VolumeMounts.map(fromNomadVolumeMount);
  if (t.Artifacts && t.Artifacts.length > 0) input.artifact = t.Artifacts.map(fromNomadArtifact);
  return input;
}

type Parsed = z.output<typeof nomadTaskSchema>;
type VolumeMountInput = NonNullable<TaskInput["volume_mount"]>[number];
type ArtifactInput = NonNullable<TaskInput["artifact"]>[number];

/** Missing strings stay "" so parseTask reports the field as invalid under its own name. */
function fromNomadVolumeMount(m: NonNullable<Parsed["VolumeMounts"]>[number]): VolumeMountInput {
  const out: VolumeMountInput = { volume: m.Volume ?? "", destination: m.Destination ?? "" };
  if (m.ReadOnly !== null && m.ReadOnly !== undefined) out.read_only = m.ReadOnly;
  if (m.PropagationMode) out.propagation_mode = m.PropagationMode as VolumeMountInput["propagation_mode"];
  return out;
}

function fromNomadArtifact(a: NonNullable<Parsed["Artifacts"]>[number]): ArtifactInput {
  const out: ArtifactInput = { source: a.GetterSource ?? "" };
  if (a.RelativeDest) out.destination = a.RelativeDest;
  if (a.GetterMode) out.mode = a.GetterMode as ArtifactInput["mode"];
  if (a.GetterOptions) out.options = a.GetterOptions;
  if (a.GetterHeaders) out.headers = a.GetterHeaders;
  return out;
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
  volume_mount: "VolumeMounts",
  artifact: "Artifacts",
};

const VOLUME_FIELDS: Readonly<Record<string, string>> = {
  volume: "Volume",
  destination: "Destination",
  read_only: "ReadOnly",
  propagation_mode: "PropagationMode",
};

const ARTIFACT_FIELDS: Readonly<Record<string, string>> = {
  source: "GetterSource",
  destination: "RelativeDest",
  mode: "GetterMode",
  options: "GetterOptions",
  headers: "GetterHeaders",
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
  const fields =
    first === "resources"
      ? RESOURCE_FIELDS
      : first === "volume_mount"
        ? VOLUME_FIELDS
        : first === "artifact"
          ? ARTIFACT_FIELDS
          : {};
  const tail = rest.map((r) => fields[r] ?? r);
  return ["", top, ...tail].join("/");
}
