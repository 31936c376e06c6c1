import { createHash, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { ValidationError } from "../errors.ts";
import { zodIssues } from "../functions/issues.ts";

export type Scope = "invoke" | "admin";

export interface TokenEntry {
  name: string;
  /** SHA-256 of the token; the token itself is never kept. */
  sha256: Buffer;
  scopes: ReadonlySet<Scope>;
}

const ScopeSchema = z.enum(["invoke", "admin"]);

/** A tokens file (JSON or TOML): `[[tokens]] name, scopes, and token or sha256 (hex)`. */
export const TokensFileSchema = z.strictObject({
  tokens: z.array(
    z
      .strictObject({
        name: z.string().min(1).max(64),
        scopes: z.array(ScopeSchema).min(1),
        token: z.string().min(16).optional(),
        sha256: z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/)
          .optional(),
      })
      .refine(
        (t) => (t.token === undefined) !== (t.sha256 === undefined),
        "give exactly one of token or sha256",
      ),
  ),
});

export function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

export function parseTokensFile(path: string, text: string): TokenEntry[] {
  let raw: unknown;
  try {
    raw = path.endsWith(".toml") ? Bun.TOML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new ValidationError(
      `${path}: not valid ${path.endsWith(".toml") ? "TOML" : "JSON"}: ${String(err)}`,
    );
  }
  const r = TokensFileSchema.safeParse(raw);
  if (!r.success) throw new ValidationError(`${path}: invalid tokens file`, zodIssues(r.error));
  return r.data.tokens.map((t) => ({
    name: t.name,
    sha256: t.sha256 !== undefined ? Buffer.from(t.sha256, "hex") : sha256(t.token ?? ""),
    scopes: new Set(t.scopes),
  }));
}

/** `BUNKER_TOKENS="ci:invoke:<secret>,ops:invoke+admin:<secret>"`. */
export function parseTokensEnv(value: string): TokenEntry[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((entry, i) => {
      const [name, scopes, ...rest] = entry.split(":");
      const token = rest.join(":");
      const list = (scopes ?? "").split("+");
      const bad = list.filter((s) => !ScopeSchema.safeParse(s).success);
      if (!name || token.length < 16 || bad.length > 0 || list.length === 0) {
        throw new ValidationError(`BUNKER_TOKENS entry ${i + 1}: want name:scope[+scope]:token (16+ chars)`, [
          {
            path: `/${i}`,
            message: "want name:scope[+scope]:token with scopes invoke/admin and a 16+ char token",
          },
        ]);
      }
      return { name, sha256: sha256(token), scopes: new Set(list as Scope[]) };
    });
}

/** Bearer tokens, checked in constant time against every entry. */
export class TokenStore {
  readonly #entries: readonly TokenEntry[];
  constructor(entries: readonly TokenEntry[]) {
    this.#entries = entries;
  }
  get size(): number {
    return this.#entries.length;
  }
  check(token: string): TokenEntry | undefined {
    const h = sha256(token);
    let found: TokenEntry | undefined;
    for (const e of this.#entries) {
      if (timingSafeEqual(h, e.sha256) && found === undefined) found = e;
    }
    return found;
  }
}
