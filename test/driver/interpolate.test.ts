// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is Nomad interpolation syntax under test, not a JS template
import { describe, expect, test } from "bun:test";
import { interpolate, interpolateArgs } from "../../src/driver/interpolate.ts";

const env = { NOMAD_TASK_DIR: "/local", NOMAD_META_owner: "ops", PORT: "8080", "my-var": "dash", EMPTY: "" };
const meta = { owner: "team-a" };
const attrs = {
  "node.unique.id": "abc-123",
  "attr.cpu.arch": "amd64",
  "meta.rack": "r1",
  "attr.kernel.name": "linux",
};

describe("interpolate", () => {
  test.each([
    ["${NOMAD_TASK_DIR}/app.conf", "/local/app.conf"],
    ["--port=${PORT}", "--port=8080"],
    ["${my-var}", "dash"],
    ["[${EMPTY}]", "[]"],
    ['${env["PORT"]}', "8080"],
    ['${env["NOMAD_META_owner"]}', "ops"],
    ["${NOMAD_META_owner}", "ops"],
    ["${meta.owner}", "team-a"],
    ["${meta.rack}", "r1"],
    ["${node.unique.id}", "abc-123"],
    ["${attr.cpu.arch}", "amd64"],
    ["${attr.kernel.name}", "linux"],
    ["${PORT}${PORT}", "80808080"],
    ["a ${PORT} b ${NOMAD_TASK_DIR} c", "a 8080 b /local c"],
  ])("%p -> %p", (input, out) => {
    expect(interpolate(input, env, meta, attrs)).toBe(out);
  });

  test.each([
    "${UNKNOWN}",
    '${env["UNKNOWN"]}',
    "${meta.nope}",
    "${node.class}",
    "${not valid}",
    "${}",
    "$PORT",
    "${PORT",
    "${constructor}",
    "${__proto__}",
    '${env["constructor"]}',
  ])("unknown or malformed %p stays as written", (input) => {
    expect(interpolate(input, env, meta, attrs)).toBe(input);
  });

  test("$${ escapes a literal ${", () => {
    expect(interpolate("$${PORT}", env)).toBe("${PORT}");
    expect(interpolate("$${PORT} ${PORT}", env)).toBe("${PORT} 8080");
    expect(interpolate("$$${PORT}", env)).toBe("$${PORT}");
  });

  test("kernel name is linux even without attrs", () => {
    expect(interpolate("${attr.kernel.name}", {})).toBe("linux");
  });

  test("node attributes win over env (Nomad's order), task meta wins for meta.*", () => {
    expect(interpolate("${X}", { X: "env" }, {}, { X: "attr" })).toBe("attr");
    expect(interpolate("${meta.k}", {}, { k: "task" }, { "meta.k": "node" })).toBe("task");
  });

  test("values are not re-interpolated", () => {
    expect(interpolate("${A}", { A: "${B}", B: "no" })).toBe("${B}");
  });

  test("args are interpolated one by one", () => {
    expect(interpolateArgs(["${PORT}", "x y", "${NOPE}"], env)).toEqual(["8080", "x y", "${NOPE}"]);
  });
});
