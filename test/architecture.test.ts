/**
 * The import rules of ARCHITECTURE.md, enforced by walking every import of
 * src/**\/*.ts (static, re-exports and dynamic import() with a literal):
 * arrows point down only, and only src/sys touches bun:ffi.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const SRC = join(ROOT, "src");

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(path);
    return e.isFile() && /\.tsx?$/.test(e.name) ? [path] : [];
  });
}

/** Module specifiers of a file: `import … from "x"`, `export … from "x"`, `import "x"`, `import("x")`. */
function importsOf(source: string): string[] {
  // Comments may quote imports (like this file's header); strip them, keeping string contents.
  const code = source.replace(/\/\*[\s\S]*?\*\/|(?<![:"'`\\])\/\/[^\n]*/g, "");
  const specs = new Set<string>();
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^"'`;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) specs.add(m[1]!);
  return [...specs];
}

interface Edge {
  /** Importing file, relative to the repo ("src/driver/exec.ts"). */
  from: string;
  /** The specifier as written. */
  spec: string;
  /** Repo-relative target for relative imports ("src/sys/native.ts"), else the specifier. */
  to: string;
}

const edges: Edge[] = tsFiles(SRC).flatMap((file) =>
  importsOf(readFileSync(file, "utf8")).map((spec) => ({
    from: relative(ROOT, file),
    spec,
    to: spec.startsWith(".") ? relative(ROOT, resolve(dirname(file), spec)) : spec,
  })),
);

const inDir = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);
const show = (list: Edge[]) => list.map((e) => `${e.from} -> ${e.spec}`);

describe("import rules (ARCHITECTURE.md)", () => {
  test("the walk sees the source tree", () => {
    expect(edges.length).toBeGreaterThan(50);
    expect(edges.some((e) => e.from === "src/sys/native.ts" && e.to === "bun:ffi")).toBe(true);
    expect(edges.some((e) => e.from === "src/driver/exec.ts" && inDir(e.to, "src/sys"))).toBe(true);
  });

  test("the import scanner finds every form and ignores comments", () => {
    const found = importsOf(
      [
        'import { a } from "./a.ts";',
        'import type { B } from "../b.ts";',
        "import {\n  c,\n  d,\n} from './c.ts';",
        'export { e } from "./e.ts";',
        'export * from "./f.ts";',
        'import "./side-effect.ts";',
        'const g = await import("./g.ts");',
        '// import { x } from "./commented.ts";',
        '/* import { y } from "./block.ts"; */',
        'const url = "http://example.test/x"; import { h } from "./h.ts";',
      ].join("\n"),
    );
    expect(found.sort()).toEqual(
      ["./a.ts", "../b.ts", "./c.ts", "./e.ts", "./f.ts", "./side-effect.ts", "./g.ts", "./h.ts"].sort(),
    );
  });

  test('only src/sys imports "bun:ffi"', () => {
    expect(show(edges.filter((e) => e.to === "bun:ffi" && !inDir(e.from, "src/sys")))).toEqual([]);
  });

  test("driver, cgroup and sys never import gateway, invoke, store, telemetry or schedule", () => {
    const lower = ["src/driver", "src/cgroup", "src/sys"];
    const upper = ["src/gateway", "src/invoke", "src/store", "src/telemetry", "src/schedule"];
    const bad = edges.filter((e) => lower.some((d) => inDir(e.from, d)) && upper.some((d) => inDir(e.to, d)));
    expect(show(bad)).toEqual([]);
  });

  test("gateway never imports sys or cgroup (and never bun:ffi)", () => {
    const bad = edges.filter(
      (e) =>
        inDir(e.from, "src/gateway") &&
        (inDir(e.to, "src/sys") || inDir(e.to, "src/cgroup") || e.to === "bun:ffi"),
    );
    expect(show(bad)).toEqual([]);
  });

  test("store never imports the exec driver or sys", () => {
    const bad = edges.filter(
      (e) => inDir(e.from, "src/store") && (e.to === "src/driver/exec.ts" || inDir(e.to, "src/sys")),
    );
    expect(show(bad)).toEqual([]);
  });

  test("relative imports resolve to files that exist, with the .ts extension", () => {
    const bad = edges.filter(
      (e) => e.spec.startsWith(".") && !(/\.tsx?$/.test(e.to) && existsSync(join(ROOT, e.to))),
    );
    expect(show(bad)).toEqual([]);
  });
});
