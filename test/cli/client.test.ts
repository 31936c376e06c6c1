import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bunker, FUNCTIONS_DIR, runCli, startBunker } from "./serve.ts";

/** The client commands against a real `bunker serve` (as root, open on loopback). */
let bunker: Bunker;
const tmp = mkdtempSync(join(tmpdir(), "bunker-cli-test-"));
const ENVDUMP = `envdump-${Date.now().toString(36)}`;

beforeAll(async () => {
  bunker = await startBunker();
  const r = await fetch(`${bunker.url}/system/functions`, {
    method: "POST",
    body: JSON.stringify({ name: ENVDUMP, command: "/usr/bin/env" }),
  });
  expect(r.status).toBe(201);
}, 60_000);
afterAll(async () => {
  await bunker?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const cli = (args: string[], stdin?: string) =>
  runCli([...args, "--url", bunker.url], stdin === undefined ? {} : { stdin });

describe("bunker invoke", () => {
  test("stdout is the function's, exit 0", async () => {
    const r = await cli(["invoke", "hello"]);
    expect(r).toMatchObject({ code: 0, stdout: "Hello, world! (from Bunker)\n" });
  }, 60_000);

  test("-d TEXT, -d @FILE and -d - reach stdin", async () => {
    expect((await cli(["invoke", "echo", "-d", "literal"])).stdout).toBe("literal");
    const file = join(tmp, "body.txt");
    writeFileSync(file, "from a file\n");
    expect((await cli(["invoke", "echo", "-d", `@${file}`])).stdout).toBe("from a file\n");
    expect((await cli(["invoke", "-d", "-", "wc"], "a b c\n")).stdout.trim().split(/\s+/)).toEqual([
      "1",
      "3",
      "6",
    ]);
  }, 60_000);

  test("--header reaches the CGI environment", async () => {
    const r = await cli(["invoke", ENVDUMP, "--header", "X-Cli-Test: yes", "-H", "X-Other:2"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Http_X_Cli_Test=yes\n");
    expect(r.stdout).toContain("Http_X_Other=2\n");
  }, 60_000);

  test("exit code is the function's; stderr says why", async () => {
    const r = await cli(["invoke", "fail"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("exited with code 3");
    expect(r.stderr).toContain("something went wrong");
  }, 60_000);

  test("124 on timeout", async () => {
    expect((await cli(["invoke", "sleep"])).code).toBe(124);
  }, 60_000);

  test("1 with one line for other errors", async () => {
    const missing = await cli(["invoke", "no-such-fn"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('bunker: HTTP 404: function "no-such-fn" not found');
    const down = await runCli(["invoke", "hello", "--url", "http://127.0.0.1:1"]);
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split("\n")).toHaveLength(1);
    expect(down.stderr).toContain("cannot reach http://127.0.0.1:1");
  }, 60_000);

  test("--json", async () => {
    const r = await cli(["invoke", "fail", "--json"]);
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as {
      status: number;
      exit_code: number;
      problem: { stderr_tail: string };
    };
    expect(out).toMatchObject({ status: 500, exit_code: 3 });
    expect(out.problem.stderr_tail).toBe("something went wrong\n");
  }, 60_000);

  test("--async prints the call id; inspect shows the record", async () => {
    const r = await cli(["invoke", "hello", "--async"]);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    let rec: { status: string; exitCode?: number } = { status: "queued" };
    while (rec.status === "queued" || rec.status === "running") {
      const i = await cli(["inspect", id, "--json"]);
      expect(i.code).toBe(0);
      rec = JSON.parse(i.stdout);
    }
    expect(rec).toMatchObject({ status: "succeeded", exitCode: 0 });
    const human = await cli(["inspect", id]);
    expect(human.stdout).toContain("status          succeeded");
    expect(human.stdout).toContain("function        hello");
  }, 60_000);

  test("inspect shows the usage and the span tree from the store", async () => {
    const r = await cli(["invoke", "hello", "--async"]);
    const id = r.stdout.trim();
    // The store has the run once the writer's next batch is in (every 200 ms): wait for measured spans.
    let rec: { status?: string; spansMeasured?: boolean; usage?: unknown; spans?: { name: string }[] } = {};
    for (let i = 0; i < 200 && !(rec.status === "succeeded" && rec.spansMeasured && rec.usage); i++) {
      rec = JSON.parse((await cli(["inspect", id, "--json"])).stdout);
      if (!rec.spansMeasured) await Bun.sleep(50);
    }
    expect(rec.spansMeasured).toBe(true);
    expect(rec.spans?.map((s) => s.name)).toEqual(expect.arrayContaining(["hello", "admit", "spawn", "run"]));
    const lines = (await cli(["inspect", id])).stdout.split("\n");
    const at = (text: string) => lines.findIndex((l) => l.trimStart().startsWith(text));
    expect(at("usage:")).toBeGreaterThan(0);
    expect(lines[at("usage:") + 1]).toMatch(/^ {2}cpu +\d+ ms user, \d+ ms system$/);
    expect(at("spans:")).toBeGreaterThan(at("usage:"));
    // The invocation's span, and its stages one level under it.
    const root = lines[at("hello ")] ?? "";
    const spawn = lines[at("spawn ")] ?? "";
    expect(root).toMatch(/^ {2}hello +\+\d+\.\d{3} ms +\d+\.\d{3} ms$/);
    expect(spawn.indexOf("spawn")).toBe(root.indexOf("hello") + 2);
  }, 60_000);

  test("inspect ?detail is checked like any query", async () => {
    const res = await fetch(`${bunker.url}/system/invocations/nope?detail=maybe`);
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  }, 60_000);

  test("inspect of an unknown id is 1", async () => {
    const r = await cli(["inspect", "nope"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invocation "nope" not found');
  }, 60_000);
});

describe("bunker functions", () => {
  test("list asks the server", async () => {
    const r = await cli(["functions", "list"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+SOURCE/);
    expect(r.stdout).toContain(ENVDUMP);
    expect(r.stdout).toMatch(/\becho\b.*functions\/echo\.toml/);
  }, 60_000);

  test("validate: the examples are fine", async () => {
    const r = await runCli(["functions", "validate", FUNCTIONS_DIR]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("ok      hello");
  }, 60_000);

  test("validate and list DIR: each error with its path and field; exit 1", async () => {
    const dir = join(tmp, "fns");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(join(dir, "good.toml"), 'command = "/bin/true"\n');
    writeFileSync(join(dir, "bad.toml"), 'command = "/bin/true"\ntimeout = "soon"\nmax_inflight = 0\n');
    writeFileSync(join(dir, "broken.json"), "{");
    const r = await runCli(["functions", "validate", dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("ok      good");
    expect(r.stderr).toContain(`invalid ${join(dir, "bad.toml")}: /timeout: `);
    expect(r.stderr).toContain(`invalid ${join(dir, "bad.toml")}: /max_inflight: `);
    expect(r.stderr).toContain(`invalid ${join(dir, "broken.json")}: `);
    const list = await runCli(["functions", "list", dir, "--json"]);
    if (list.stdout === "") console.error("functions list printed nothing; stderr:", list.stderr);
    expect(list.code).toBe(1);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((f) => f.name)).toEqual(["good"]);
  }, 60_000);
});
