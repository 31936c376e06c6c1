/**
 * Every setting Bunker reads from the environment, once, validated by zod.
 * Nothing else reads process.env; and nothing of it reaches a task (tasks
 * get only their own env, see src/driver/exec.ts taskEnv).
 */
import { resolve } from "node:path";
import { z } from "zod";
import { ValidationError } from "./errors.ts";

const schema = z.object({
  /** Where task directories, the embedded database and journals live. */
  BUNKER_DATA_DIR: z.string().default(".bunker"),
  /** Host-wide tmpfs for task directories, shared by every Bunker on the host. */
  BUNKER_RUN_DIR: z.string().default("/run/bunker"),
  /** 0 keeps the host's cgroup mount as it is (see src/cgroup/tune.ts for what 1 changes and why). */
  BUNKER_CGROUP_FAVORDYNMODS: z.enum(["0", "1"]).default("1"),
  BUNKER_HOST: z.string().default("127.0.0.1"),
  BUNKER_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Directory of function files (<name>.toml / <name>.json). */
  BUNKER_FUNCTIONS_DIR: z.string().default("functions"),
  /** JSON file with the exec plugin config (Nomad's `plugin "exec" { config {...} }` as JSON). */
  BUNKER_PLUGIN_CONFIG: z.string().optional(),
  /** Bearer tokens: "name:scope1+scope2:token,..." (stored hashed in memory). */
  BUNKER_TOKENS: z.string().optional(),
  BUNKER_CALLBACK_SECRET: z.string().optional(),
  /** Warm pool: ready slots per function while in use (0 disables the pool), at most per function and overall. */
  BUNKER_POOL_MIN: z.coerce.number().int().min(0).default(1),
  BUNKER_POOL_MAX: z.coerce.number().int().min(1).default(4),
  BUNKER_POOL_GLOBAL_MAX: z.coerce.number().int().min(1).default(64),
  /** Seconds a function may go unused before its ready slots are released. */
  BUNKER_POOL_IDLE_TTL: z.coerce.number().int().min(1).default(300),
  /** This server's stable name in the records (markLost, job leases); default "<hostname>:<data dir>". */
  BUNKER_NODE: z.string().min(1).optional(),
  /** How long an async job's lease lasts without a heartbeat before another server may run it again (ms). */
  BUNKER_JOB_LEASE_MS: z.coerce.number().int().min(100).default(30_000),
  /** Finished records older than this are deleted ("30d", "12h", "90m"). */
  BUNKER_RETENTION: z
    .string()
    .regex(/^\d+\s*(ms|s|m|h|d)?$/, "a duration such as 30d, 12h or 90m")
    .default("30d"),
  /** postgres://… ; unset = embedded PGlite in the data directory. */
  DATABASE_URL: z.string().optional(),
});

export type Config = z.infer<typeof schema> & { dataDir: string };

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: `/${i.path.join("/")}`, message: i.message }));
    throw new ValidationError(
      `invalid environment: ${issues.map((i) => `${i.path.slice(1)}: ${i.message}`).join("; ")}`,
      issues,
    );
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.BUNKER_DATA_DIR) };
}
