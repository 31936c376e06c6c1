/**
 * The dashboard end to end: a real `bunker serve` subprocess with the example
 * functions, real invocations, and Debian's headless Chromium driven by
 * playwright-core. Every page loads, passes axe-core's WCAG A/AA rules, fits a
 * 375px screen, and is saved as a screenshot under test-artifacts/ui/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { type Bunker, ROOT, startBunker } from "../cli/serve.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-headless-shell"].find((p) => existsSync(p));
const ARTIFACTS = join(ROOT, "test-artifacts/ui");
const AXE = join(ROOT, "node_modules/axe-core/axe.min.js");
const skipReason =
  CHROMIUM === undefined
    ? "Chromium is not installed (/usr/bin/chromium): install it with `apt-get install -y chromium`"
    : process.getuid?.() !== 0
      ? "the exec driver needs root to run the functions behind the pages"
      : undefined;
if (skipReason) console.warn(`skipping the dashboard browser tests: ${skipReason}`);

const tag = `ui${process.pid}x${Date.now().toString(36)}`;
const sleeper = `ui-sleep-${tag}`.slice(0, 63);

describe.skipIf(skipReason !== undefined)("dashboard in headless Chromium", () => {
  let bunker: Bunker;
  let context: BrowserContext;
  let profile: string;
  const ids: string[] = [];

  const api = (path: string, init?: RequestInit) => fetch(`${bunker.url}${path}`, init);

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    bunker = await startBunker();
    // A task that lives long enough to exec into (the example `sleep` has a 2 s timeout).
    const created = await api("/system/functions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: sleeper, command: "/bin/sleep", args: ["60"], timeout: "90s" }),
    });
    expect(created.status).toBe(201);
    for (const body of ["one", "two", "three"]) {
      const r = await api("/function/hello", { method: "POST", body });
      expect(r.status).toBe(200);
      ids.push(r.headers.get("x-call-id") ?? "");
    }
    expect((await api("/function/fail", { method: "POST" })).status).toBeGreaterThanOrEqual(400);
    profile = mkdtempSync(join(tmpdir(), "bunker-ui-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM ?? "",
      headless: true,
      // Pages forbid inline scripts (CSP); axe is injected as one, so the test bypasses it.
      bypassCSP: true,
      viewport: { width: 1280, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await bunker?.stop();
  }, 60_000);

  async function open(path: string): Promise<Page> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const res = await page.goto(`${bunker.url}${path}`, { waitUntil: "load" });
    expect(res?.status()).toBe(200);
    expect(errors).toEqual([]);
    return page;
  }

  /** axe-core's WCAG 2.x A and AA rules; the violations are printed so a failure says what to fix. */
  async function axe(page: Page): Promise<void> {
    await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate(async () => {
      const w = globalThis as unknown as {
        axe: { run(o: unknown): Promise<{ violations: { id: string; nodes: { target: unknown }[] }[] }> };
      };
      const r = await w.axe.run({
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      });
      return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => JSON.stringify(n.target)).join(", ")}`);
    });
    expect(violations).toEqual([]);
  }

  /** Screenshots at desktop width and at 375px, and no sideways scrolling of the page at 375px. */
  async function shoot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    await page.setViewportSize({ width: 375, height: 800 });
    await page.waitForTimeout(100);
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(1);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-375.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  test("/ redirects to the overview, whose chart shows the invocations just made", async () => {
    const page = await open("/");
    expect(new URL(page.url()).pathname).toBe("/ui");
    await page.waitForSelector("#overview-calls canvas");
    const points = await page.getAttribute("#overview-calls", "data-points");
    expect(Number(points)).toBeGreaterThanOrEqual(1);
    // The data table behind the chart counts at least the four calls of this test.
    const counts = await page.$$eval("#overview-calls tbody tr td:nth-child(2)", (tds) =>
      tds.map((td) => Number(td.textContent)),
    );
    expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4);
    await expect(page.textContent("#driver-health")).resolves.toBe("healthy");
    await axe(page);
    await shoot(page, "1-overview");
    await page.close();
  }, 60_000);

  test("functions: sortable and filterable through the query string", async () => {
    const page = await open("/ui/functions?sort=calls&dir=desc");
    const first = await page.textContent("#functions-table tbody tr:first-child td:first-child a");
    expect(first).toBe("hello");
    await page.fill("#q", "fail");
    await Promise.all([page.waitForURL(/q=fail/), page.click("form.filters button")]);
    const names = await page.$$eval("#functions-table tbody tr td:first-child a", (as) =>
      as.map((a) => a.textContent),
    );
    expect(names).toEqual(["fail"]);
    await page.goto(`${bunker.url}/ui/functions`);
    await axe(page);
    await shoot(page, "2-functions");
    await page.close();
  }, 60_000);

  test("function detail: the invoke form runs the function and shows its output", async () => {
    const page = await open("/ui/functions/echo");
    await page.waitForFunction("'htmx' in window");
    const marker = `echoed-${tag}`;
    await page.fill("#invoke-body", marker);
    await page.click("form[hx-post] button[type=submit]");
    await page.waitForSelector("#invoke-output");
    expect(await page.textContent("#invoke-output")).toBe(marker);
    expect(await page.textContent("#invoke-status")).toBe("200");
    await page.goto(`${bunker.url}/ui/functions/hello`);
    await page.waitForSelector("#latency canvas");
    await axe(page);
    await shoot(page, "3-function");
    await page.close();
  }, 60_000);

  test("invocations: newest first, filtered, updated live", async () => {
    const page = await open("/ui/invocations?function=hello");
    const shown = await page.$$eval("#invocations-table tbody tr td:first-child a", (as) =>
      as.map((a) => a.textContent),
    );
    expect(shown.slice(0, 3)).toEqual([...ids].reverse());
    const before = shown.length;
    const r = await api("/function/hello", { method: "POST", body: "live" });
    const id = r.headers.get("x-call-id") ?? "";
    await page.waitForSelector(`#invocations-table a[href$="${id}"]`, { timeout: 15_000 });
    const after = await page.$$eval("#invocations-table tbody tr", (trs) => trs.length);
    expect(after).toBe(before + 1);
    await axe(page);
    await shoot(page, "4-invocations");
    await page.close();
  }, 60_000);

  test("invocation detail: span waterfall, outcome and trace id", async () => {
    const page = await open(`/ui/invocations/${ids[0]}`);
    const spans = await page.$$eval("#waterfall li", (lis) => lis.map((li) => li.getAttribute("data-span")));
    expect(spans.length).toBeGreaterThanOrEqual(2);
    expect(spans).toContain("run");
    await axe(page);
    await shoot(page, "5-invocation");
    await page.close();
  }, 60_000);

  test("exec: the terminal runs echo in a live task", async () => {
    const started = await api(`/async-function/${sleeper}`, { method: "POST" });
    expect(started.status).toBe(202);
    const id = started.headers.get("x-call-id") ?? ((await started.json()) as { id: string }).id;
    const deadline = Date.now() + 30_000;
    while (
      ((await (await api(`/system/invocations/${id}`)).json()) as { status: string }).status !== "running"
    ) {
      if (Date.now() > deadline) throw new Error("the sleep task never started");
      await Bun.sleep(50);
    }
    try {
      const page = await open(`/ui/invocations/${id}/exec`);
      await page.waitForFunction(
        'document.getElementById("exec-status")?.textContent === "Connected"',
        null,
        {
          timeout: 15_000,
        },
      );
      const marker = `exec-${tag}`;
      await page.keyboard.type(`echo ${marker}-$((6*7))\r`);
      // The shell echoes the command line; only the command's output has 42 computed.
      await page.waitForFunction(
        `(document.querySelector(".xterm-rows")?.textContent ?? "").includes(${JSON.stringify(`${marker}-42`)})`,
        null,
        { timeout: 15_000 },
      );
      await axe(page);
      await shoot(page, "6-exec");
      await page.close();
      const detail = await open(`/ui/invocations/${id}`);
      await detail.waitForSelector("form[action$='/cancel'] button");
      await shoot(detail, "5-invocation-running");
      await Promise.all([detail.waitForURL(/done=/), detail.click("form[action$='/cancel'] button")]);
      await detail.close();
    } finally {
      await api(`/system/invocations/${id}`, { method: "DELETE" });
    }
  }, 90_000);

  test("schedules page", async () => {
    const page = await open("/ui/schedules");
    await axe(page);
    await shoot(page, "7-schedules");
    await page.close();
  }, 60_000);

  test("node: driver.exec, health text and fingerprint", async () => {
    const page = await open("/ui/node");
    expect(await page.textContent("#health-text")).toBe("Healthy");
    const keys = await page.$$eval("table td.mono:first-child", (tds) => tds.map((td) => td.textContent));
    expect(keys).toContain("driver.exec");
    await axe(page);
    await shoot(page, "8-node");
    await page.close();
  }, 60_000);
});
