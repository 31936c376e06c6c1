/**
 * The exec driver's two configuration blocks, validated with zod under Nomad's snake_case names:
 * the plugin block (`plugin "exec" { config { ... } }`) -> PluginConfig, and a task
 * (`task { driver = "exec" config { ... } ... }`) -> TaskSpec with every default applied.
 * The schemas only validate shapes and defaults (so they export cleanly as JSON Schema); the
 * conversion to camelCase types and the cross-field checks (caps, durations, signals, ids)
 * happen after, and every failure ends up in one ValidationError whose issues carry JSON pointers.
 */
import { isAbsolute } from "node:path";
import { z } from "zod";
import { ValidationError } from "../errors.ts";
import { type ArtifactInput, DEFAULT_ARTIFACT_LIMITS, parseArtifacts } from "./artifacts.ts";
import { computeCaps, NOMAD_DEFAULT_CAPS, nomadCapSpelling, parseCapList } from "./caps.ts";
import { normalizeSignal } from "./signals.ts";
import type {
  ArtifactLimits,
  NamespaceMode,
  NetworkSpec,
  PluginConfig,
  Resources,
  TaskSpec,
} from "./types.ts";
import { assertUserAllowed, DEFAULT_USER, parseIdRanges } from "./users.ts";
import { PROPAGATIONS, parseVolumeMounts, type VolumeMountInput } from "./volumes.ts";

// ---------------------------------------------------------------------------------------------
// Durations

const GO_DURATION = /^(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's time.ParseDuration syntax ("5s", "1m30s", "250ms", "1.5h") or a number of milliseconds,
 * -> whole milliseconds. Negative durations are refused: no Nomad timeout means anything below 0.
 */
export function parseDuration(value: string | number, field: string): number {
  if (typeof value === "number") {
    if (Number.isFinite(value) && value >= 0) return Math.round(value);
  } else {
    const s = value.trim();
    if (GO_DURATION.test(s)) return Math.round(sumDuration(s));
  }
  const message = `${field}: invalid duration ${JSON.stringify(value)} (want e.g. "5s", "1m30s", "250ms" or milliseconds)`;
  throw new ValidationError(message, [{ path: `/${field}`, message }]);
}

function sumDuration(s: string): number {
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number.parseFloat(m[1] ?? "0") * (UNIT_MS[m[2] ?? "ms"] ?? 1);
  }
  return total;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$/i;
const SIZE_UNITS: Readonly<Record<string, number>> = { "": 1, b: 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

/** go-humanize's ParseBytes, as Nomad's client config uses: "100MB" = 100e6, "1GiB" = 2^30, or bytes. */
export function parseSize(value: string | number, field: string): number {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  const m = typeof value === "string" ? SIZE.exec(value.trim()) : null;
  if (m) {
    const unit = (m[2] ?? "").toLowerCase();
    const base = unit.includes("i") ? 1024 ** " kmgt".indexOf(unit[0] ?? "") : SIZE_UNITS[unit[0] ?? ""];
    if (base !== undefined && base > 0) return Math.floor(Number.parseFloat(m[1] ?? "0") * base);
  }
  const message = `${field}: invalid size ${JSON.stringify(value)} (want e.g. "100MB", "1GiB" or bytes)`;
  throw new ValidationError(message, [{ path: `/${field}`, message }]);
}

const sizeSchema = z.union([z.string(), z.number()]);

const durationSchema = z.union([z.string(), z.number()], {
  error: (iss) =>
    `expected a duration like "5s" or a number of milliseconds, got ${JSON.stringify(iss.input)}`,
});

// ---------------------------------------------------------------------------------------------
// Shared pieces

function modeSchema(field: string) {
  // "" means "unset" in Nomad (HCL's zero value), so it falls back to the plugin default.
  return z.enum(["private", "host", ""], {
    error: (iss) => `${field} must be "private" or "host", got ${goQuote(iss.input)}`,
  });
}

/** Go's %q for the value shown in Nomad's messages. */
function goQuote(v: unknown): string {
  return JSON.stringify(typeof v === "string" ? v : String(v));
}

const stringList = z.array(z.string());
const stringMap = z.record(z.string(), z.string());

/** Nomad's default chroot_env (host path -> task path); missing host paths are skipped later. */
export const DEFAULT_CHROOT_ENV: Readonly<Record<string, string>> = {
  "/bin": "/bin",
  "/etc": "/etc",
  "/lib": "/lib",
  "/lib32": "/lib32",
  "/lib64": "/lib64",
  "/run/resolvconf": "/run/resolvconf",
  "/run/systemd/resolve": "/run/systemd/resolve",
  "/sbin": "/sbin",
  "/usr": "/usr",
};

/** Nomad's default allow_caps in its own spelling ("audit_write", ...). */
export const DEFAULT_ALLOW_CAPS: readonly string[] = NOMAD_DEFAULT_CAPS.map(nomadCapSpelling);

export const DEFAULT_MAX_KILL_TIMEOUT = "30s";
export const DEFAULT_KILL_TIMEOUT = "5s";
export const DEFAULT_KILL_SIGNAL = "SIGINT";
export const DEFAULT_CPU_MHZ = 100;
export const DEFAULT_MEMORY_MB = 300;

// ---------------------------------------------------------------------------------------------
// Plugin config

export type ChrootMode = "bind" | "link" | "copy";

/** PluginConfig plus Bunker's own switches. */
export interface BunkerPluginConfig extends PluginConfig {
  /**
   * How the task root gets chroot_env: "bind" = read-only bind mounts (Bunker's default, no
   * per-task copying); "link" = Nomad's hard links (copy when linking fails); "copy" = copies.
   */
  chrootMode: ChrootMode;
  /** Allow tasks to run as uid 0 (Nomad's client denies root for exec by default). */
  allowRoot: boolean;
  /** Nomad's client `host_volume` blocks: name -> host path a task's volume_mount may bind. */
  hostVolumes?: Record<string, string>;
  /** Nomad's client `artifact` block; unset fields take DEFAULT_ARTIFACT_LIMITS. */
  artifactLimits?: ArtifactLimits;
}

export const pluginConfigSchema = z.strictObject({
  default_pid_mode: modeSchema("default_pid_mode").default("private"),
  default_ipc_mode: modeSchema("default_ipc_mode").default("private"),
  no_pivot_root: z.boolean().default(false),
  allow_caps: z.union([z.literal("all"), stringList]).default(() => [...DEFAULT_ALLOW_CAPS]),
  chroot_env: stringMap.default(() => ({ ...DEFAULT_CHROOT_ENV })),
  denied_host_uids: z.string().default(""),
  denied_host_gids: z.string().default(""),
  max_kill_timeout: durationSchema.default(DEFAULT_MAX_KILL_TIMEOUT),
  chroot_mode: z
    .enum(["bind", "link", "copy"], {
      error: (iss) => `chroot_mode must be "bind", "link" or "copy", got ${goQuote(iss.input)}`,
    })
    .default("bind"),
  allow_root: z.boolean().default(false),
  host_volumes: stringMap.optional(),
  artifact: z
    .strictObject({
      http_read_timeout: durationSchema.optional(),
      http_max_size: sizeSchema.optional(),
      decompression_size_limit: sizeSchema.optional(),
      decompression_file_count_limit: z.number().int().min(1).optional(),
    })
    .optional(),
});

export type PluginConfigInput = z.input<typeof pluginConfigSchema>;

export interface ParseOptions {
  /** Highest kernel capability number; defaults to /proc/sys/kernel/cap_last_cap. */
  lastCap?: number;
}

/** `plugin "exec" { config { ... } }` (as JSON) -> BunkerPluginConfig. */
export function parsePluginConfig(input: unknown = {}, opts: ParseOptions = {}): BunkerPluginConfig {
  const raw = zodParse(pluginConfigSchema, input ?? {});
  const issues = new Issues();
  const allowCaps = issues.run(() => normalizeAllowCaps(raw.allow_caps, opts.lastCap), []);
  const maxKill = issues.run(() => parseDuration(raw.max_kill_timeout, "max_kill_timeout"), 0);
  issues.run(() => parseIdRanges(raw.denied_host_uids, "denied_host_uids"), []);
  issues.run(() => parseIdRanges(raw.denied_host_gids, "denied_host_gids"), []);
  issues.run(() => checkChrootEnv(raw.chroot_env), undefined);
  issues.run(() => checkHostVolumes(raw.host_volumes ?? {}), undefined);
  const artifactLimits = issues.run(() => toArtifactLimits(raw.artifact), undefined);
  issues.throwIfAny();
  const extra: Pick<BunkerPluginConfig, "hostVolumes" | "artifactLimits"> = {};
  if (raw.host_volumes !== undefined) extra.hostVolumes = raw.host_volumes;
  if (artifactLimits !== undefined) extra.artifactLimits = artifactLimits;
  return {
    ...extra,
    defaultPidMode: orDefault(raw.default_pid_mode, "private"),
    defaultIpcMode: orDefault(raw.default_ipc_mode, "private"),
    noPivotRoot: raw.no_pivot_root,
    allowCaps,
    chrootEnv: raw.chroot_env,
    deniedHostUids: raw.denied_host_uids,
    deniedHostGids: raw.denied_host_gids,
    maxKillTimeoutMs: maxKill,
    chrootMode: raw.chroot_mode,
    allowRoot: raw.allow_root,
  };
}

/** Host volume paths, like chroot_env's host side: absolute and free of "..". */
function checkHostVolumes(map: Record<string, string>): void {
  for (const [name, path] of Object.entries(map)) {
    if (name === "" || !isAbsolute(path) || path.split("/").includes("..")) {
      const message = `host_volumes ${goQuote(name)} must name an absolute host path without "..", got ${goQuote(path)}`;
      throw new ValidationError(message, [{ path: `/host_volumes/${pointerEscape(name)}`, message }]);
    }
  }
}

function toArtifactLimits(raw: z.output<typeof pluginConfigSchema>["artifact"]): ArtifactLimits | undefined {
  if (raw === undefined) return undefined;
  const d = DEFAULT_ARTIFACT_LIMITS;
  return {
    httpReadTimeoutMs:
      raw.http_read_timeout === undefined
        ? d.httpReadTimeoutMs
        : parseDuration(raw.http_read_timeout, "artifact/http_read_timeout"),
    httpMaxBytes:
      raw.http_max_size === undefined
        ? d.httpMaxBytes
        : parseSize(raw.http_max_size, "artifact/http_max_size"),
    decompressionSizeLimit:
      raw.decompression_size_limit === undefined
        ? d.decompressionSizeLimit
        : parseSize(raw.decompression_size_limit, "artifact/decompression_size_limit"),
    decompressionFileCountLimit: raw.decompression_file_count_limit ?? d.decompressionFileCountLimit,
  };
}

function orDefault(mode: NamespaceMode | "", fallback: NamespaceMode): NamespaceMode {
  return mode === "" ? fallback : mode;
}

/** Upper case without `CAP_` (PluginConfig's spelling), or "all" when the list contains it. */
function normalizeAllowCaps(list: "all" | string[], lastCap: number | undefined): string[] | "all" {
  if (list === "all" || list.some((c) => c.trim().toLowerCase() === "all")) return "all";
  const set = parseCapList("allow_caps", list, lastCap);
  return [...set].map((c) => c.slice(4)).sort();
}

/**
 * Both sides must be absolute and free of ".." so a map entry cannot point outside its tree, and
 * nothing may be mounted over the task root itself (it would hide the task dir).
 */
function checkChrootEnv(map: Record<string, string>): void {
  for (const [host, task] of Object.entries(map)) {
    if (task.split("/").every((c) => c === "" || c === ".")) {
      const message = `chroot_env cannot map ${goQuote(host)} over the task root "/"`;
      throw new ValidationError(message, [{ path: `/chroot_env/${pointerEscape(host)}`, message }]);
    }
    for (const [side, p] of [
      ["host", host],
      ["task", task],
    ] as const) {
      if (!isAbsolute(p) || p.split("/").includes("..")) {
        const message = `chroot_env ${side} path must be absolute without "..", got ${goQuote(p)}`;
        throw new ValidationError(message, [{ path: `/chroot_env/${pointerEscape(host)}`, message }]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Task

const taskDriverConfigSchema = z.strictObject({
  command: z
    .string({ error: 'the argument "command" is required' })
    .min(1, { error: 'the argument "command" is required' }),
  args: stringList.default(() => []),
  pid_mode: modeSchema("pid_mode").default(""),
  ipc_mode: modeSchema("ipc_mode").default(""),
  cap_add: stringList.default(() => []),
  cap_drop: stringList.default(() => []),
  work_dir: z.string().optional(),
});

const resourcesSchema = z.strictObject({
  cpu: z.number().int().optional(),
  cores: z.number().int().min(0).optional(),
  memory: z.number().int().optional(),
  memory_max: z.number().int().min(0).optional(),
  pids: z.number().int().min(1).optional(),
});

const volumeMountSchema = z.strictObject({
  volume: z.string({ error: 'volume_mount: the argument "volume" is required' }).min(1),
  destination: z.string({ error: 'volume_mount: the argument "destination" is required' }).min(1),
  read_only: z.boolean().optional(),
  propagation_mode: z
    .enum(PROPAGATIONS as [string, ...string[]], {
      error: (iss) =>
        `propagation_mode must be "private", "host-to-task" or "bidirectional", got ${goQuote(iss.input)}`,
    })
    .optional(),
});

const artifactSchema = z.strictObject({
  source: z.string({ error: 'artifact: the argument "source" is required' }).min(1),
  destination: z.string().optional(),
  mode: z
    .enum(["any", "file", "dir"], {
      error: (iss) => `artifact mode must be "any", "file" or "dir", got ${goQuote(iss.input)}`,
    })
    .optional(),
  options: stringMap.optional(),
  headers: stringMap.optional(),
});

/** Nomad's `network { mode, dns {...} }`, plus Bunker's `group` name for mode "group". */
const networkSchema = z
  .strictObject({
    mode: z
      .enum(["host", "group", "none"], {
        error: (iss) => `network mode must be "host", "group" or "none", got ${goQuote(iss.input)}`,
      })
      .default("host"),
    group: z.string().optional(),
    dns: z
      .strictObject({
        servers: z.array(z.ipv4().or(z.ipv6())).default([]),
        searches: z.array(z.string().min(1)).default([]),
        options: z.array(z.string().min(1)).default([]),
      })
      .optional(),
  })
  .refine((n) => n.mode !== "group" || (n.group !== undefined && n.group !== ""), {
    message: 'network mode "group" needs a group name',
    path: ["group"],
  });

export const taskSchema = z.strictObject({
  name: z.string().min(1).default("task"),
  /** Optional here (this schema is the exec driver's); anything else is refused. */
  driver: z.literal("exec", { error: (iss) => `driver ${goQuote(iss.input)} is not exec` }).optional(),
  config: taskDriverConfigSchema,
  user: z.string().default(""),
  env: stringMap.default(() => ({})),
  meta: stringMap.default(() => ({})),
  kill_signal: z.union([z.string(), z.number()]).default(DEFAULT_KILL_SIGNAL),
  kill_timeout: durationSchema.default(DEFAULT_KILL_TIMEOUT),
  resources: resourcesSchema.default(() => ({})),
  /** Bunker: wall-clock limit for the whole run. */
  timeout: durationSchema.optional(),
  volume_mount: z.array(volumeMountSchema).optional(),
  artifact: z.array(artifactSchema).optional(),
  network: networkSchema.optional(),
});

export type TaskInput = z.input<typeof taskSchema>;
type RawTask = z.output<typeof taskSchema>;

/** TaskSpec plus the task's `meta`, which args interpolation (`${meta.k}`) needs. */
export interface BunkerTaskSpec extends TaskSpec {
  meta: Record<string, string>;
}

/**
 * A task (JSON with Nomad's field names) -> TaskSpec with the plugin's defaults applied.
 * Everything that can be checked without touching the host is checked here, before any side
 * effect: modes, caps against allow_caps, signal, durations, resources, user denylist by name.
 */
export function parseTask(
  input: unknown,
  plugin: PluginConfig & { allowRoot?: boolean; hostVolumes?: Record<string, string> },
  opts: ParseOptions = {},
): BunkerTaskSpec {
  const raw = zodParse(taskSchema, input);
  const issues = new Issues();
  const caps = issues.run(() => normalizeTaskCaps(raw, plugin, opts.lastCap), { add: [], drop: [] });
  const killSignal = issues.run(() => normalizeSignal(raw.kill_signal, "/kill_signal"), DEFAULT_KILL_SIGNAL);
  const killTimeoutMs = issues.run(() => parseDuration(raw.kill_timeout, "kill_timeout"), 0);
  const timeoutMs = issues.run(() => parseTimeout(raw.timeout), undefined);
  const resources = issues.run(() => toResources(raw.resources), { cpu: 0, memory: 0 });
  const user = raw.user.trim() === "" ? DEFAULT_USER : raw.user.trim();
  issues.run(() => assertUserAllowed(user, plugin.allowRoot === true), undefined);
  issues.run(() => checkStrings(raw), undefined);
  const volumeMounts = issues.run(
    () => parseVolumeMounts((raw.volume_mount ?? []) as VolumeMountInput[], plugin.hostVolumes ?? {}),
    [],
  );
  const artifacts = issues.run(() => parseArtifacts((raw.artifact ?? []) as ArtifactInput[]), []);
  issues.throwIfAny();

  const spec: BunkerTaskSpec = {
    name: raw.name,
    command: raw.config.command,
    args: raw.config.args,
    env: raw.env,
    meta: raw.meta,
    user,
    pidMode: orDefault(raw.config.pid_mode, plugin.defaultPidMode),
    ipcMode: orDefault(raw.config.ipc_mode, plugin.defaultIpcMode),
    capAdd: caps.add,
    capDrop: caps.drop,
    killSignal,
    // Nomad caps the task's kill_timeout at the client's max_kill_timeout, silently.
    killTimeoutMs: Math.min(killTimeoutMs, plugin.maxKillTimeoutMs),
    resources,
  };
  if (raw.config.work_dir !== undefined && raw.config.work_dir !== "") spec.workDir = raw.config.work_dir;
  if (timeoutMs !== undefined) spec.timeoutMs = timeoutMs;
  if (volumeMounts.length > 0) spec.volumeMounts = volumeMounts;
  if (artifacts.length > 0) spec.artifacts = artifacts;
  if (raw.network && raw.network.mode !== "host") spec.network = networkOf(raw.network);
  return spec;
}

function networkOf(raw: NonNullable<RawTask["network"]>): NetworkSpec {
  const net: NetworkSpec = { mode: raw.mode };
  if (raw.group !== undefined) net.group = raw.group;
  if (raw.dns) net.dns = { servers: raw.dns.servers, searches: raw.dns.searches, options: raw.dns.options };
  return net;
}

/** Validates cap_add/cap_drop against the plugin now, and keeps them in PluginConfig's spelling. */
function normalizeTaskCaps(
  raw: RawTask,
  plugin: PluginConfig,
  lastCap: number | undefined,
): { add: string[]; drop: string[] } {
  const { cap_add, cap_drop } = raw.config;
  computeCaps({ allowCaps: plugin.allowCaps, capAdd: cap_add, capDrop: cap_drop, ...lastCapOpt(lastCap) });
  return { add: cap_add.map(specCapName), drop: cap_drop.map(specCapName) };
}

function lastCapOpt(lastCap: number | undefined): { lastCap?: number } {
  return lastCap === undefined ? {} : { lastCap };
}

/** "cap_net_raw" -> "NET_RAW"; "all" stays "all". */
function specCapName(c: string): string {
  const n = nomadCapSpelling(c);
  return n === "all" ? "all" : n.toUpperCase();
}

function parseTimeout(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value, "timeout");
  if (ms > 0) return ms;
  const message = "timeout must be greater than 0";
  throw new ValidationError(message, [{ path: "/timeout", message }]);
}

/** Nomad's resource defaults and its Resources.Validate rules (texts as Nomad prints them). */
function toResources(r: RawTask["resources"]): Resources {
  const problems: { path: string; message: string }[] = [];
  const cpu = r.cpu ?? DEFAULT_CPU_MHZ;
  const memory = r.memory ?? DEFAULT_MEMORY_MB;
  if (r.cpu !== undefined && r.cores !== undefined && r.cores > 0) {
    problems.push({
      path: "/resources/cores",
      message: "Task can only ask for 'cpu' or 'cores' resource, not both.",
    });
  }
  if (cpu < 1) problems.push({ path: "/resources/cpu", message: `minimum CPU value is 1; got ${cpu}` });
  if (memory < 10) {
    problems.push({ path: "/resources/memory", message: `minimum MemoryMB value is 10; got ${memory}` });
  }
  if (r.memory_max !== undefined && r.memory_max > 0 && r.memory_max < memory) {
    problems.push({
      path: "/resources/memory_max",
      message: `MemoryMaxMB value (${r.memory_max}) should be larger than MemoryMB value (${memory})`,
    });
  }
  if (problems.length > 0) throw new ValidationError(joinMessages(problems), problems);
  const out: Resources = { cpu, memory };
  if (r.cores !== undefined && r.cores > 0) out.cores = r.cores;
  if (r.memory_max !== undefined && r.memory_max > 0) out.memoryMax = r.memory_max;
  if (r.pids !== undefined) out.pids = r.pids;
  return out;
}

/** work_dir must be absolute; env names and every string must survive execve (no NUL, no "="). */
function checkStrings(raw: RawTask): void {
  const problems: { path: string; message: string }[] = [];
  const wd = raw.config.work_dir;
  if (wd !== undefined && wd !== "" && !isAbsolute(wd)) {
    problems.push({
      path: "/config/work_dir",
      message: `work_dir must be absolute but got relative path ${goQuote(wd)}`,
    });
  }
  const nul = (s: string) => s.includes("\0");
  if (nul(raw.config.command))
    problems.push({ path: "/config/command", message: "command contains a NUL byte" });
  raw.config.args.forEach((a, i) => {
    if (nul(a)) problems.push({ path: `/config/args/${i}`, message: "argument contains a NUL byte" });
  });
  for (const [k, v] of Object.entries(raw.env)) {
    if (k === "" || k.includes("=") || nul(k) || nul(v)) {
      problems.push({
        path: `/env/${pointerEscape(k)}`,
        message: `invalid environment variable ${goQuote(k)}: names must be non-empty without "=", and no NUL bytes`,
      });
    }
  }
  if (problems.length > 0) throw new ValidationError(joinMessages(problems), problems);
}

// ---------------------------------------------------------------------------------------------
// JSON Schema

/** JSON Schema (draft 2020-12) of what a user may write, for docs and editor completion. */
export function pluginConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(pluginConfigSchema, { io: "input" }) as Record<string, unknown>;
}

export function taskJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(taskSchema, { io: "input" }) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** RFC 6901 escaping of one pointer segment. */
export function pointerEscape(segment: string | number): string {
  return String(segment).replaceAll("~", "~0").replaceAll("/", "~1");
}

function toPointer(path: readonly PropertyKey[]): string {
  return path.map((p) => `/${pointerEscape(typeof p === "symbol" ? String(p) : p)}`).join("");
}

function joinMessages(issues: readonly { message: string }[]): string {
  return issues.map((i) => i.message).join("; ");
}

/** Runs zod and turns its issues into one ValidationError (one issue per unknown key). */
function zodParse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((iss) => {
    if (iss.code === "unrecognized_keys") {
      return iss.keys.map((key) => ({
        path: toPointer([...iss.path, key]),
        message: `unsupported argument: an argument named ${goQuote(key)} is not expected here`,
      }));
    }
    return [{ path: toPointer(iss.path), message: iss.message }];
  });
  throw new ValidationError(joinMessages(issues), issues);
}

/** Collects the ValidationErrors of independent checks so the user sees all of them at once. */
class Issues {
  private readonly list: { path: string; message: string }[] = [];

  run<T>(check: () => T, fallback: T): T {
    try {
      return check();
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      this.list.push(...(err.issues.length > 0 ? err.issues : [{ path: "", message: err.message }]));
      return fallback;
    }
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new ValidationError(joinMessages(this.list), this.list);
  }
}
