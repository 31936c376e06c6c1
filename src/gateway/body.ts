import { BodyTooLargeError } from "../invoke/errors.ts";
import { ProblemError } from "./problem.ts";

/** 413 early when Content-Length already says the body is too large. */
export function checkContentLength(req: Request, limit: number): void {
  const cl = req.headers.get("content-length");
  if (cl !== null && /^\d+$/.test(cl) && Number(cl) > limit) throw new BodyTooLargeError(limit);
}

/** Reads the whole body, at most `limit` bytes (413 beyond). */
export async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  checkContentLength(req, limit);
  if (!req.body) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of req.body) {
    n += chunk.byteLength;
    if (n > limit) throw new BodyTooLargeError(limit);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** A JSON (or TOML with a TOML content type) document, 400 when it does not parse. */
export async function readDocument(req: Request, limit = 1024 * 1024): Promise<unknown> {
  const ct = (req.headers.get("content-type") ?? "application/json").toLowerCase();
  const isToml = ct.includes("toml");
  if (!isToml && !ct.includes("json")) {
    throw new ProblemError("unsupported_media_type", `send application/json or application/toml, not ${ct}`);
  }
  const text = new TextDecoder().decode(await readBody(req, limit));
  try {
    return isToml ? Bun.TOML.parse(text) : JSON.parse(text);
  } catch (err) {
    const what = isToml ? "TOML" : "JSON";
    throw new ProblemError(
      "malformed_body",
      `the body is not valid ${what}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
