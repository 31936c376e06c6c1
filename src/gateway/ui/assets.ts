/**
 * Static files of the dashboard: the pinned vendor builds straight from
 * node_modules (no build step) and our own script and style. Names carry the
 * package version, so they are cached for a year and a new release changes the URL.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";

interface Asset {
  path: string;
  type: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

function vendor(specifier: string, type: string): Asset {
  return { path: Bun.resolveSync(specifier, import.meta.dir), type };
}

function own(file: string, type: string): Asset {
  return { path: join(import.meta.dir, "static", file), type };
}

function version(pkg: string): string {
  const file = Bun.resolveSync(`${pkg}/package.json`, import.meta.dir);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

/** Served name -> file; the vendor names embed their version. */
function table(): Map<string, Asset> {
  const m = new Map<string, Asset>();
  m.set(`htmx-${version("htmx.org")}.min.js`, vendor("htmx.org/dist/htmx.min.js", JS));
  m.set(`uplot-${version("uplot")}.min.js`, vendor("uplot/dist/uPlot.iife.min.js", JS));
  m.set(`uplot-${version("uplot")}.min.css`, vendor("uplot/dist/uPlot.min.css", CSS));
  m.set(`xterm-${version("@xterm/xterm")}.js`, vendor("@xterm/xterm/lib/xterm.js", JS));
  m.set(`xterm-${version("@xterm/xterm")}.css`, vendor("@xterm/xterm/css/xterm.css", CSS));
  m.set(`addon-fit-${version("@xterm/addon-fit")}.js`, vendor("@xterm/addon-fit/lib/addon-fit.js", JS));
  m.set("app.js", own("app.js", JS));
  m.set("app.css", own("app.css", CSS));
  return m;
}

let cached: { files: Map<string, Asset>; urls: AssetUrls } | undefined;

export interface AssetUrls {
  htmx: string;
  uplotJs: string;
  uplotCss: string;
  xtermJs: string;
  xtermCss: string;
  fitJs: string;
  appJs: string;
  appCss: string;
}

function load() {
  if (cached) return cached;
  const files = table();
  const names = [...files.keys()];
  const find = (prefix: string, ext: string) => {
    const name = names.find((n) => n.startsWith(prefix) && n.endsWith(ext));
    if (name === undefined) throw new Error(`dashboard asset ${prefix}*${ext} is missing`);
    return `/ui/assets/${name}`;
  };
  // Our own files change without a version in their name: a content hash keeps caching safe.
  const hashed = (name: string) => {
    const a = files.get(name);
    const hash = a ? Bun.hash(readFileSync(a.path)).toString(36) : "0";
    return `/ui/assets/${name}?v=${hash}`;
  };
  cached = {
    files,
    urls: {
      htmx: find("htmx-", ".js"),
      uplotJs: find("uplot-", ".js"),
      uplotCss: find("uplot-", ".css"),
      xtermJs: find("xterm-", ".js"),
      xtermCss: find("xterm-", ".css"),
      fitJs: find("addon-fit-", ".js"),
      appJs: hashed("app.js"),
      appCss: hashed("app.css"),
    },
  };
  return cached;
}

export function assetUrls(): AssetUrls {
  return load().urls;
}

/** GET /ui/assets/:name, open to everyone (no secrets in them; the login page needs them). */
export function assetRoutes(): Hono {
  const app = new Hono();
  app.get("/:name", (c) => {
    const asset = load().files.get(c.req.param("name"));
    if (!asset) return c.text("no such asset", 404);
    return new Response(Bun.file(asset.path), {
      headers: {
        "Content-Type": asset.type,
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
      },
    });
  });
  return app;
}
