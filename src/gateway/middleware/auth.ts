import type { Context, MiddlewareHandler } from "hono";
import { ProblemError } from "../problem.ts";
import type { Scope, TokenEntry, TokenStore } from "../tokens.ts";

export type AuthEnv = { Variables: { principal: TokenEntry | null; traceparent?: string } };

/**
 * Reads `Authorization: Bearer <token>` into `c.var.principal`. With no store (open mode on
 * loopback) everyone is a principal with every scope. A wrong token is 401 right away.
 */
export function authenticate(store: TokenStore | null): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    c.set("principal", null);
    const header = c.req.header("authorization");
    if (store === null) {
      c.set("principal", OPEN);
    } else if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      const entry = m?.[1] === undefined ? undefined : store.check(m[1]);
      if (!entry) throw unauthorized("the bearer token is not valid");
      c.set("principal", entry);
    }
    await next();
  };
}

const OPEN: TokenEntry = { name: "open", sha256: Buffer.alloc(32), scopes: new Set(["invoke", "admin"]) };

function unauthorized(detail: string): ProblemError {
  return new ProblemError("unauthorized", detail);
}

/** Throws 401/403 unless the request's principal has `scope` (admin implies invoke). */
export function assertScope(c: Context<AuthEnv>, scope: Scope): void {
  const p = c.get("principal");
  if (!p) throw unauthorized(`send "Authorization: Bearer <token>" with the ${scope} scope`);
  if (!p.scopes.has(scope) && !p.scopes.has("admin")) {
    throw new ProblemError("forbidden", `token "${p.name}" lacks the ${scope} scope`);
  }
}

export function requireScope(scope: Scope): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    assertScope(c, scope);
    await next();
  };
}
