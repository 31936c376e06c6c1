import type { Context } from "hono";
import type { JSX } from "hono/jsx/jsx-runtime";

/** Pages load only our own files: no inline script, no third-party origin. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export async function page(c: Context, node: JSX.Element, status: 200 | 400 | 401 | 404 | 409 = 200) {
  const html = `<!DOCTYPE html>${String(await node)}`;
  return c.html(html, status, {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
  });
}

export async function fragment(node: JSX.Element): Promise<string> {
  return String(await node);
}
