/**
 * ffi/protocol.h and src/sys/protocol.ts describe one contract from two
 * sides: every `#define BK_...` in the header must have a TypeScript export of
 * the same name and value, and the reverse. The kernel constants that
 * protocol.ts spells in C (CLONE_*, MS_*, MNT_*, O_*) are checked against the
 * system headers by compiling a tiny C program, when a C compiler is there.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as protocol from "../../src/sys/protocol.ts";

const HEADER = new URL("../../ffi/protocol.h", import.meta.url).pathname;

/**
 * Evaluates the integer expressions a #define in protocol.h may hold:
 * decimal/hex/octal literals with u/l suffixes, ( ), + - * << >> | &.
 */
function evalCInt(expr: string): number {
  const tokens = expr.match(/0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|<<|>>|[()+\-*|&]/g) ?? [];
  if (tokens.join("") !== expr.replace(/\s+/g, ""))
    throw new Error(`cannot evaluate ${JSON.stringify(expr)}`);
  let i = 0;
  const peek = () => tokens[i];
  const literal = (t: string): number => {
    const digits = t.replace(/[uUlL]+$/, "");
    if (/^0[xX]/.test(digits)) return Number.parseInt(digits.slice(2), 16);
    if (/^0\d/.test(digits)) return Number.parseInt(digits.slice(1), 8);
    return Number.parseInt(digits, 10);
  };
  const primary = (): number => {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`unexpected end of ${JSON.stringify(expr)}`);
    if (t === "(") {
      const v = or();
      if (tokens[i++] !== ")") throw new Error(`missing ) in ${JSON.stringify(expr)}`);
      return v;
    }
    if (t === "-") return -primary();
    return literal(t);
  };
  const binary =
    (next: () => number, ops: Record<string, (a: number, b: number) => number>) => (): number => {
      let v = next();
      for (let op = peek(); op !== undefined && op in ops; op = peek()) {
        i++;
        v = ops[op]!(v, next());
      }
      return v;
    };
  const mul = binary(primary, { "*": (a, b) => a * b });
  const add = binary(mul, { "+": (a, b) => a + b, "-": (a, b) => a - b });
  const shift = binary(add, { "<<": (a, b) => a * 2 ** b, ">>": (a, b) => Math.floor(a / 2 ** b) });
  const and = binary(shift, { "&": (a, b) => Number(BigInt(a) & BigInt(b)) });
  const or = binary(and, { "|": (a, b) => Number(BigInt(a) | BigInt(b)) });
  const v = or();
  if (i !== tokens.length) throw new Error(`trailing tokens in ${JSON.stringify(expr)}`);
  return v;
}

/** `#define BK_NAME value /* comment *\/` -> name -> value. */
function headerDefines(text: string): Map<string, number> {
  const noBlock = text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "));
  const out = new Map<string, number>();
  for (const m of noBlock.matchAll(/^[ \t]*#[ \t]*define[ \t]+(BK_\w+)[ \t]+(.+?)[ \t]*(?:\/\/.*)?$/gm)) {
    out.set(m[1]!, evalCInt(m[2]!));
  }
  return out;
}

const tsExports = new Map(
  Object.entries(protocol).filter(
    (e): e is [string, number] => e[0].startsWith("BK_") && typeof e[1] === "number",
  ),
);

describe("ffi/protocol.h <-> src/sys/protocol.ts", () => {
  const defines = headerDefines(readFileSync(HEADER, "utf8"));

  test("the evaluator handles what a header may contain", () => {
    expect(evalCInt("0x424b5031u")).toBe(0x424b5031);
    expect(evalCInt("(1024 * 1024)")).toBe(1048576);
    expect(evalCInt("1 << 3 | 0x100")).toBe(0x108);
    expect(evalCInt("0700")).toBe(0o700);
    expect(() => evalCInt("FOO + 1")).toThrow();
  });

  test("the header defines the protocol at all", () => {
    expect(defines.get("BK_PLAN_MAGIC")).toBe(0x424b5031);
    expect(defines.size).toBeGreaterThan(20);
  });

  test("every BK_ define has a TypeScript export with the same value", () => {
    const mismatched: string[] = [];
    for (const [name, value] of defines) {
      if (tsExports.get(name) !== value) mismatched.push(`${name}: C ${value}, TS ${tsExports.get(name)}`);
    }
    expect(mismatched).toEqual([]);
  });

  test("every BK_ export of protocol.ts is defined in the header", () => {
    expect([...tsExports.keys()].filter((name) => !defines.has(name))).toEqual([]);
  });

  test("every named step has a name for messages", () => {
    const steps = [...tsExports].filter(([name]) => name.startsWith("BK_STEP_"));
    const unnamed = steps.filter(([, n]) => protocol.STEP_NAMES[n] === undefined).map(([name]) => name);
    expect(unnamed).toEqual([]);
    // Two steps with one number would make a failure record ambiguous.
    expect(new Set(steps.map(([, n]) => n)).size).toBe(steps.length);
  });
});

const cc = Bun.which("cc") ?? Bun.which("gcc");
if (!cc) console.log("kernel constant check skipped: no C compiler (cc/gcc) on PATH");

describe.skipIf(!cc)("kernel constants in protocol.ts match the system headers", () => {
  const dir = mkdtempSync(join(tmpdir(), "bunker-protocol-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("CLONE_*, MS_*, MNT_*, O_*", () => {
    const names = Object.keys(protocol).filter((n) => /^(CLONE|MS|MNT|O)_/.test(n));
    expect(names.length).toBeGreaterThan(10);
    const src = [
      "#define _GNU_SOURCE",
      "#include <fcntl.h>",
      "#include <sched.h>",
      "#include <stdio.h>",
      "#include <sys/mount.h>",
      "int main(void) {",
      ...names.map((n) => `  printf("%s %llu\\n", "${n}", (unsigned long long)(${n}));`),
      "  return 0;",
      "}",
    ].join("\n");
    writeFileSync(join(dir, "consts.c"), src);
    const build = Bun.spawnSync([cc!, "-o", join(dir, "consts"), join(dir, "consts.c")]);
    expect(build.stderr.toString()).toBe("");
    const run = Bun.spawnSync([join(dir, "consts")]);
    const fromC = Object.fromEntries(
      run.stdout
        .toString()
        .trim()
        .split("\n")
        .map((line) => {
          const [n, v] = line.split(" ");
          return [n!, Number(v)];
        }),
    );
    const fromTs = Object.fromEntries(names.map((n) => [n, (protocol as Record<string, unknown>)[n]]));
    expect(fromTs).toEqual(fromC);
  });
});
