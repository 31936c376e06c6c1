import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePluginConfig } from "../../src/driver/config.ts";
import { ValidationError } from "../../src/errors.ts";
import { functionJsonSchema } from "../../src/functions/json-schema.ts";
import { loadFunctionDir } from "../../src/functions/loader.ts";
import { FunctionRegistry } from "../../src/functions/registry.ts";
import { taskParser } from "../../src/functions/task.ts";
import { parseSize } from "../../src/functions/units.ts";

const parseTask = taskParser(parsePluginConfig({}));
const FUNCTIONS = join(import.meta.dir, "../../functions");

describe("function files", () => {
  test("every example loads", () => {
    const r = loadFunctionDir(FUNCTIONS, parseTask);
    expect(r.errors).toEqual([]);
    expect(r.functions.map((f) => f.name).sort()).toEqual(["echo", "fail", "hello", "shout", "sleep", "wc"]);
    const sleep = r.functions.find((f) => f.name === "sleep");
    expect(sleep?.timeoutMs).toBe(2000);
    expect(sleep?.task.timeoutMs).toBe(2000);
    expect(sleep?.task.command).toBe("/bin/sleep");
  });

  test("a broken file is reported with its path and field; the others load", () => {
    const dir = mkdtempSync(join(tmpdir(), "bunker-fn-"));
    writeFileSync(join(dir, "good.toml"), 'command = "/bin/true"\n');
    writeFileSync(join(dir, "bad.toml"), 'command = "/bin/true"\ntimeout = "soon"\npid_mode = "shared"\n');
    writeFileSync(join(dir, "typo.json"), '{"command": "/bin/true", "comand": 1}');
    writeFileSync(join(dir, "Bad_Name.toml"), 'command = "/bin/true"\n');
    writeFileSync(join(dir, "broken.json"), "{");
    const r = loadFunctionDir(dir, parseTask);
    expect(r.functions.map((f) => f.name)).toEqual(["good"]);
    const byFile = Object.fromEntries(r.errors.map((e) => [e.path.split("/").at(-1), e]));
    expect(byFile["bad.toml"]?.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      "/pid_mode",
      "/timeout",
    ]);
    expect(byFile["bad.toml"]?.message).toContain(join(dir, "bad.toml"));
    expect(byFile["typo.json"]?.issues.map((i: { path: string }) => i.path)).toEqual(["/comand"]);
    expect(byFile["Bad_Name.toml"]?.issues[0]?.path).toBe("/name");
    expect(byFile["broken.json"]).toBeDefined();
  });

  test("the published JSON Schema is generated and up to date", () => {
    const file = JSON.parse(readFileSync(join(FUNCTIONS, "function.schema.json"), "utf8"));
    expect(file).toEqual(functionJsonSchema());
    expect(Object.keys(file.properties)).toContain("max_inflight");
    expect(Object.keys(file.properties)).toContain("cap_add");
  });

  test("sizes", () => {
    expect(parseSize("64KiB")).toBe(65536);
    expect(parseSize("1MB")).toBe(1_000_000);
    expect(parseSize(12)).toBe(12);
    expect(parseSize("lots")).toBeUndefined();
  });
});

describe("registry", () => {
  const files = loadFunctionDir(FUNCTIONS, parseTask).functions;

  test("API functions: create, replace, delete; file functions are read-only", () => {
    const reg = new FunctionRegistry({ files, parseTask });
    reg.create("mine", { command: "/bin/true" });
    expect(() => reg.create("mine", { command: "/bin/true" })).toThrow(/already exists/);
    expect(reg.put("mine", { command: "/bin/false" }).created).toBe(false);
    expect(reg.get("mine")?.task.command).toBe("/bin/false");
    expect(() => reg.put("echo", { command: "/bin/true" })).toThrow(/read-only/);
    expect(() => reg.delete("echo")).toThrow(/read-only/);
    reg.delete("mine");
    expect(reg.get("mine")).toBeUndefined();
    expect(() => reg.delete("mine")).toThrow(/not found/);
  });

  test("a function's own pool settings: parsed, durations in ms, min above max refused", () => {
    const reg = new FunctionRegistry({ parseTask });
    const fn = reg.create("pooled", { command: "/bin/true", pool: { min: 2, max: 6, idle_ttl: "90s" } });
    expect(fn.pool).toEqual({ min: 2, max: 6, idleTtlMs: 90_000 });
    expect(reg.create("plain", { command: "/bin/true" }).pool).toBeUndefined();
    for (const pool of [{ min: 5, max: 2 }, { min: -1 }, { max: 0 }, { idle: "1s" }]) {
      try {
        reg.create("bad-pool", { command: "/bin/true", pool });
        throw new Error(`expected a ValidationError for ${JSON.stringify(pool)}`);
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).issues[0]?.path).toStartWith("/pool");
      }
    }
  });

  test("validation reports every failing field as a JSON pointer", () => {
    const reg = new FunctionRegistry({ parseTask });
    try {
      reg.create("x", { args: "no", max_inflight: 0, resources: { memory: 1 } });
      throw new Error("expected a ValidationError");
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      const paths = (err as ValidationError).issues.map((i) => i.path).sort();
      expect(paths).toContain("/max_inflight");
      expect(paths).toContain("/command");
      expect(paths).toContain("/args");
    }
  });
});
