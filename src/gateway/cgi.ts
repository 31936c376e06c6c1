/**
 * OpenFaaS classic-watchdog CGI environment: Http_Method, Http_Path, Http_Query,
 * Http_Content_Type, and every header as Http_<Canonical_Name> with dashes as underscores.
 * Credentials (Authorization, Cookie, Proxy-Authorization) never reach the task.
 */
const WITHHELD = new Set(["authorization", "proxy-authorization", "cookie"]);
const HEADER_NAME = /^[A-Za-z0-9-]+$/;

function canonical(name: string): string {
  return name
    .split("-")
    .map((p) => (p === "" ? p : p[0]?.toUpperCase() + p.slice(1).toLowerCase()))
    .join("_");
}

export function cgiEnv(req: Request, path: string): Record<string, string> {
  const url = new URL(req.url);
  const env: Record<string, string> = {};
  req.headers.forEach((value, name) => {
    if (WITHHELD.has(name.toLowerCase()) || !HEADER_NAME.test(name)) return;
    env[`Http_${canonical(name)}`] = value.replaceAll("\0", "");
  });
  env.Http_Method = req.method;
  env.Http_Path = path;
  env.Http_Query = url.search.startsWith("?") ? url.search.slice(1) : url.search;
  const ct = req.headers.get("content-type");
  if (ct !== null) env.Http_Content_Type = ct;
  return env;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

function hex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}

/** The caller's W3C traceparent when valid, else a fresh sampled one. */
export function traceparent(req: Request): string {
  const given = req.headers.get("traceparent")?.trim().toLowerCase();
  if (given !== undefined && TRACEPARENT.test(given)) return given;
  return `00-${hex(16)}-${hex(8)}-01`;
}
