/**
 * The dashboard's side of the API's auth. The global middleware already read
 * a bearer header into `principal`; a browser has no header, so with tokens
 * configured the login form puts the token in an HttpOnly, SameSite=Strict
 * cookie scoped to /ui, and this middleware checks it the same way.
 */
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AuthEnv } from "../middleware/auth.ts";
import { ProblemError } from "../problem.ts";
import type { TokenEntry, TokenStore } from "../tokens.ts";

export const COOKIE = "bunker_ui_token";

export type UiEnv = {
  Variables: AuthEnv["Variables"] & {
    /** The Authorization header to forward when the UI calls the API for the user (none in open mode). */
    bearer: string | undefined;
  };
};

/** Only paths inside the dashboard are followed after login (no open redirect). */
export function safeNext(next: string | undefined): string {
  if (next === undefined || !next.startsWith("/ui") || next.startsWith("//") || next.includes("\\")) {
    return "/ui";
  }
  return next;
}

export function uiAuth(tokens: TokenStore | null): MiddlewareHandler<UiEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    c.set("bearer", header);
    if (tokens === null || c.get("principal")) return next();
    const token = getCookie(c, COOKIE);
    const entry: TokenEntry | undefined = token === undefined ? undefined : tokens.check(token);
    if (token !== undefined && entry) {
      c.set("principal", entry);
      c.set("bearer", `Bearer ${token}`);
      return next();
    }
    if (c.req.method === "GET" && !c.req.header("upgrade")) {
      const to = `/ui/login?next=${encodeURIComponent(c.req.path + new URL(c.req.url).search)}`;
      return c.redirect(to, 303);
    }
    throw new ProblemError("unauthorized", "sign in at /ui/login or send a bearer token");
  };
}

export function signIn(c: Context, token: string, tokens: TokenStore): boolean {
  if (!tokens.check(token)) return false;
  setCookie(c, COOKIE, token, {
    path: "/ui",
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(c.req.url).protocol === "https:",
    maxAge: 12 * 3600,
  });
  return true;
}

export function signOut(c: Context): void {
  deleteCookie(c, COOKIE, { path: "/ui" });
}
