/**
 * Nomad's `${...}` interpolation of task args (client/taskenv + helper/args.ReplaceEnv):
 * a reference is replaced when it is known and left exactly as written when it is not, so a
 * shell script's own `${VAR}` survives when Nomad knows no VAR.
 */

/** Attributes every Linux client has; a caller's `attrs` override them. */
const BUILTIN_ATTRS: Readonly<Record<string, string>> = {
  "attr.kernel.name": "linux",
  "attr.os.name": "linux",
};

/**
 * `$${` is HCL2's escape for a literal `${` (Nomad's jobspec parser applies it before the driver
 * sees args); Bunker has no HCL pass, so it honours the escape here.
 * Reference names use Nomad's character set (letters, digits, `_`, `-`, `.`), plus `env["X"]`.
 */
const REFERENCE = /\$\$\{|\$\{(?:env\["([^"\\]*)"\]|([A-Za-z0-9_.-]+))\}/g;

/**
 * Replaces `${NAME}` (task env: NOMAD_TASK_DIR, NOMAD_META_*, any `env` key), `${env["NAME"]}`,
 * `${meta.KEY}` (task meta, then node meta in `attrs` as `meta.KEY`), and `${attr.*}` /
 * `${node.*}` lookups from `attrs` (keys written in full, e.g. "node.unique.id").
 * Lookup order follows Nomad's: node attributes first, then the task environment.
 */
export function interpolate(
  value: string,
  env: Readonly<Record<string, string>>,
  meta: Readonly<Record<string, string>> = {},
  attrs: Readonly<Record<string, string>> = {},
): string {
  return value.replace(REFERENCE, (whole, envName: string | undefined, name: string | undefined) => {
    if (whole === "$${") return "${";
    if (envName !== undefined) return own(env, envName) ?? whole;
    return resolve(name ?? "", env, meta, attrs) ?? whole;
  });
}

/** Interpolates each argument independently (an argument never splits into several). */
export function interpolateArgs(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  meta: Readonly<Record<string, string>> = {},
  attrs: Readonly<Record<string, string>> = {},
): string[] {
  return args.map((a) => interpolate(a, env, meta, attrs));
}

function resolve(
  name: string,
  env: Readonly<Record<string, string>>,
  meta: Readonly<Record<string, string>>,
  attrs: Readonly<Record<string, string>>,
): string | undefined {
  if (name.startsWith("meta.")) {
    const key = name.slice("meta.".length);
    return own(meta, key) ?? own(attrs, name);
  }
  return own(attrs, name) ?? own(BUILTIN_ATTRS, name) ?? own(env, name);
}

/** Own properties only, so `${constructor}` or `${__proto__}` never reach Object.prototype. */
function own(map: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}
