/**
 * The built-in dashboard under /ui: server-rendered Hono JSX pages over the
 * same deps as the API, the same tokens (bearer header, or the login cookie),
 * and a few actions (invoke, signal, cancel, trigger, exec) that call the same
 * services the API routes call.
 */
import { type Context, Hono } from "hono";
import { csrf } from "hono/csrf";
import { errorMessage } from "../../errors.ts";
import { type AuthEnv, assertScope } from "../middleware/auth.ts";
import { ProblemError } from "../problem.ts";
import { execRoute } from "../routes/exec.ts";
import { assetRoutes } from "./assets.ts";
import { safeNext, signIn, signOut, type UiEnv, uiAuth } from "./auth.ts";
import { type UiDeps, uiContext } from "./context.ts";
import { dashboardData } from "./data.ts";
import { functionPage, type InvokeResult, InvokeResultView } from "./pages/function.tsx";
import { functionsPage } from "./pages/functions.tsx";
import { execPage, invocationPage } from "./pages/invocation.tsx";
import { invocationStream, invocationsPage } from "./pages/invocations.tsx";
import { loginPage } from "./pages/login.tsx";
import { nodePage } from "./pages/node.tsx";
import { overviewPage } from "./pages/overview.tsx";
import { schedulesPage } from "./pages/schedules.tsx";
import { fragment } from "./render.ts";

export type { UiDeps } from "./context.ts";
export { type DashboardData, dashboardData, memoryData, storeData } from "./data.ts";

const MAX_SHOWN = 64 * 1024;

/** The store's SQL when the gateway has the database; the readable invocations otherwise. */
function back(c: Context, to: string, message: string) {
  return c.redirect(`${to}?done=${encodeURIComponent(message)}`, 303);
}

/** Lines of "Name: value"; anything else is ignored. */
function headerLines(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    if (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) out.push([name, line.slice(i + 1).trim()]);
  }
  return out;
}

/** Runs the function through the gateway's own /function route, so the result is what an API client sees. */
async function invokeThroughApi(
  c: Context<UiEnv>,
  name: string,
  form: Record<string, unknown>,
): Promise<InvokeResult> {
  const headers = new Headers(headerLines(String(form.headers ?? "")));
  const contentType = String(form.contentType ?? "").trim();
  if (contentType) headers.set("content-type", contentType);
  const bearer = c.get("bearer");
  if (bearer) headers.set("authorization", bearer);
  const url = new URL(`/function/${encodeURIComponent(name)}`, c.req.url);
  const req = new Request(url.href, { method: "POST", headers, body: String(form.body ?? "") });
  const server = c.env as { fetch?: (r: Request) => Response | Promise<Response> } | undefined;
  const started = performance.now();
  const res = typeof server?.fetch === "function" ? await server.fetch(req) : await fetch(req);
  const body = await res.text();
  const durationMs = performance.now() - started;
  const shown = [...res.headers].filter(
    ([k]) => k === "content-type" || k.startsWith("x-bunker") || k.startsWith("x-"),
  );
  return {
    status: res.status,
    durationMs,
    headers: shown,
    body: body.slice(0, MAX_SHOWN),
    truncated: body.length > MAX_SHOWN,
  };
}

/** A browser's WebSocket carries the cookie but no Origin check of its own: refuse other sites. */
function sameOrigin(c: Context): boolean {
  const origin = c.req.header("origin");
  return origin === undefined || origin === new URL(c.req.url).origin;
}

export function ui(deps: UiDeps): Hono<AuthEnv> {
  const app = new Hono<UiEnv>();
  const uictx = uiContext(deps, dashboardData(deps));
  const signedIn = deps.tokens !== null;
  app.route("/assets", assetRoutes());

  app.get("/login", async (c) => {
    if (deps.tokens === null) return c.redirect("/ui", 303);
    return loginPage(c, safeNext(c.req.query("next")));
  });
  app.post("/login", csrf(), async (c) => {
    const next = safeNext(c.req.query("next"));
    if (deps.tokens === null) return c.redirect(next, 303);
    const form = await c.req.parseBody();
    if (typeof form.token === "string" && signIn(c, form.token, deps.tokens)) return c.redirect(next, 303);
    return loginPage(c, next, "That token is not valid.");
  });
  app.post("/logout", csrf(), (c) => {
    signOut(c);
    return c.redirect(deps.tokens === null ? "/ui" : "/ui/login", 303);
  });

  app.use("*", csrf());
  app.use("*", uiAuth(deps.tokens));
  app.use("*", async (c, next) => {
    assertScope(c as unknown as Context<AuthEnv>, "invoke");
    await next();
  });
  const admin = (c: Context<UiEnv>) => assertScope(c as unknown as Context<AuthEnv>, "admin");

  app.get("/", (c) => overviewPage(c, uictx, signedIn));
  app.get("/functions", (c) => functionsPage(c, uictx, signedIn));
  app.get("/functions/:name", (c) => functionPage(c, uictx, signedIn));
  app.post("/functions/:name/invoke", async (c) => {
    const name = c.req.param("name");
    const form = await c.req.parseBody();
    let view: string;
    try {
      view = await fragment(<InvokeResultView result={await invokeThroughApi(c, name, form)} />);
    } catch (err) {
      view = await fragment(
        <InvokeResultView result={null} error={`The call failed: ${errorMessage(err)}`} />,
      );
    }
    if (c.req.header("hx-request")) return c.html(view);
    // Without script: the result alone on a plain page, with a way back.
    return c.html(
      `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Result · Bunker</title></head><body><main><h1>Result of ${Bun.escapeHTML(name)}</h1>${view}<p><a href="/ui/functions/${encodeURIComponent(name)}">Back</a></p></main></body></html>`,
    );
  });
  app.get("/invocations", (c) => invocationsPage(c, uictx, signedIn));
  app.get("/invocations/stream", (c) => invocationStream(c, uictx));
  app.get("/invocations/:id", (c) => invocationPage(c, uictx, signedIn));
  app.post("/invocations/:id/cancel", async (c) => {
    const id = c.req.param("id");
    const to = `/ui/invocations/${encodeURIComponent(id)}`;
    try {
      await deps.invocations.cancel(id);
      return back(c, to, "Cancel requested.");
    } catch (err) {
      return back(c, to, `Could not cancel: ${errorMessage(err)}`);
    }
  });
  app.post("/invocations/:id/signal", async (c) => {
    const id = c.req.param("id");
    const to = `/ui/invocations/${encodeURIComponent(id)}`;
    const form = await c.req.parseBody();
    try {
      await deps.invocations.signal(id, String(form.signal ?? "SIGTERM"), "main");
      return back(c, to, `Sent ${String(form.signal ?? "SIGTERM")}.`);
    } catch (err) {
      return back(c, to, `Could not signal: ${errorMessage(err)}`);
    }
  });
  app.get("/invocations/:id/exec", (c) => {
    admin(c);
    return execPage(c, uictx, signedIn);
  });
  app.get("/invocations/:id/exec/ws", (c) => {
    if (!sameOrigin(c)) throw new ProblemError("forbidden", "exec from another origin is not allowed");
    return execRoute(deps, c as unknown as Context<AuthEnv>);
  });
  app.get("/schedules", (c) => schedulesPage(c, uictx, signedIn));
  app.post("/schedules/:name/trigger", async (c) => {
    const name = c.req.param("name");
    const scheduler = uictx.scheduler();
    try {
      if (!scheduler) throw new Error("the scheduler does not run on this server");
      const r = await scheduler.trigger(name);
      return back(
        c,
        "/ui/schedules",
        `Triggered ${name}: ${r.result}${r.invocationId ? ` (${r.invocationId})` : ""}.`,
      );
    } catch (err) {
      return back(c, "/ui/schedules", `Could not trigger ${name}: ${errorMessage(err)}`);
    }
  });
  app.get("/node", (c) => {
    admin(c);
    return nodePage(c, uictx, signedIn);
  });
  return app as unknown as Hono<AuthEnv>;
}
