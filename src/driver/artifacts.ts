/**
 * Nomad `artifact` blocks: HTTP(S) downloads into the task dir before the task starts, with
 * go-getter's rules for what a Nomad user writes: `options { checksum = "sha256:..." }` checked
 * on the downloaded bytes, archives unpacked by extension (tar, tar.gz/tgz, zip, and a plain .gz
 * decompressed) unless `options { archive = false }`, `mode` any|file|dir, `destination`
 * relative to the task dir (default "local/"). Everything lands owned by the task user.
 *
 * Bunker unpacks by itself (archive/): every member is checked before it is written (see
 * archive/extract.ts), and the plugin's `artifact` limits bound the download and the unpacking.
 */
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { BunkerError, ValidationError } from "../errors.ts";
import { ArchiveError } from "./archive/entry.ts";
import { extractEntries, mkdirsNoFollow, safeParts, writeNewFile } from "./archive/extract.ts";
import { readTar } from "./archive/tar.ts";
import { readZip } from "./archive/zip.ts";
import type { ArtifactLimits, ArtifactMode, ArtifactSpec } from "./types.ts";

/** The task's `artifact` block (Nomad's names). */
export interface ArtifactInput {
  source: string;
  destination?: string;
  mode?: ArtifactMode;
  options?: Record<string, string>;
  headers?: Record<string, string>;
}

export const DEFAULT_ARTIFACT_LIMITS: Readonly<ArtifactLimits> = {
  // Nomad's defaults are 30m and 100GB; task dirs here live on a tmpfs, so Bunker's are smaller.
  httpReadTimeoutMs: 5 * 60_000,
  httpMaxBytes: 1 << 30,
  decompressionSizeLimit: 1 << 30,
  decompressionFileCountLimit: 4096,
};

const HASHES: Readonly<Record<string, number>> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 };
const KNOWN_OPTIONS = new Set(["checksum", "archive"]);

type Format = "tar" | "tar.gz" | "zip" | "gz";
const FORMATS: readonly [string, Format][] = [
  [".tar.gz", "tar.gz"],
  [".tgz", "tar.gz"],
  [".tar", "tar"],
  [".zip", "zip"],
  [".gz", "gz"],
];
/** go-getter unpacks these too; Bunker has no decoder for them. */
const UNSUPPORTED = [".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".bz2", ".xz", ".zst"];

/** A download or unpack that failed: the task does not start, and this is the reason. */
export class ArtifactError extends BunkerError {
  constructor(source: string, why: string) {
    super("artifact_failed", `failed to download artifact ${JSON.stringify(source)}: ${why}`, { source });
    this.name = "ArtifactError";
  }
}

// ---------------------------------------------------------------------------------------------
// Validation (parseTask time)

/** `artifact` list -> ArtifactSpec[]; checksum, archive option and destination checked here. */
export function parseArtifacts(list: readonly ArtifactInput[]): ArtifactSpec[] {
  const problems: { path: string; message: string }[] = [];
  const out: ArtifactSpec[] = [];
  list.forEach((a, i) => {
    const at = (field: string) => `/artifact/${i}/${field}`;
    const before = problems.length;
    let url: URL | undefined;
    try {
      url = new URL(a.source);
    } catch {
      problems.push({
        path: at("source"),
        message: `artifact source ${JSON.stringify(a.source)} is not a URL`,
      });
    }
    if (url && url.protocol !== "http:" && url.protocol !== "https:") {
      problems.push({
        path: at("source"),
        message: `artifact source ${JSON.stringify(a.source)}: only http and https are supported`,
      });
    }
    // go-getter also reads checksum/archive from the URL's query; options win.
    const options: Record<string, string> = {};
    for (const k of KNOWN_OPTIONS) {
      const q = url?.searchParams.get(k);
      if (q !== null && q !== undefined) options[k] = q;
      url?.searchParams.delete(k);
    }
    Object.assign(options, a.options ?? {});
    for (const k of Object.keys(a.options ?? {})) {
      if (!KNOWN_OPTIONS.has(k)) {
        problems.push({
          path: at(`options/${k}`),
          message: `artifact option ${JSON.stringify(k)} is not supported (checksum, archive)`,
        });
      }
    }
    const checksum = options.checksum;
    if (checksum !== undefined) {
      const m = /^([a-z0-9]+):([0-9a-fA-F]+)$/.exec(checksum);
      if (!m || HASHES[m[1] ?? ""] !== m[2]?.length) {
        problems.push({
          path: at("options/checksum"),
          message: `artifact checksum must be "md5:", "sha1:", "sha256:" or "sha512:" and the hex digest, got ${JSON.stringify(checksum)}`,
        });
      }
    }
    const archive = options.archive ?? "true";
    if (!["true", "false", "tar", "tar.gz", "tgz", "zip", "gz"].includes(archive)) {
      problems.push({
        path: at("options/archive"),
        message: `artifact option archive must be true, false or a format, got ${JSON.stringify(archive)}`,
      });
    }
    const destination = a.destination ?? "local/";
    const destProblem = destinationProblem(destination);
    if (destProblem !== null) problems.push({ path: at("destination"), message: destProblem });
    if (problems.length > before || url === undefined) return;
    const spec: ArtifactSpec = {
      source: url.toString(),
      destination,
      mode: a.mode ?? "any",
      archive: archive !== "false",
      headers: a.headers ?? {},
    };
    if (checksum !== undefined) spec.checksum = checksum.toLowerCase();
    if (archive !== "true" && archive !== "false") spec.source = withFormatHint(spec.source, archive);
    out.push(spec);
  });
  if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join("; "), problems);
  return out;
}

/** A forced format travels as a URL fragment (never sent to the server). */
function withFormatHint(source: string, format: string): string {
  const u = new URL(source);
  u.hash = `bunker-archive=${format}`;
  return u.toString();
}

/** Relative to the task dir, inside it, and not where the root plan mounts over. */
function destinationProblem(dest: string): string | null {
  const parts = normalize(dest);
  if (parts === null) return `artifact destination ${JSON.stringify(dest)} escapes the task directory`;
  const top = parts[0];
  if (top !== undefined && ["secrets", "dev", "proc", "sys"].includes(top)) {
    return `artifact destination ${JSON.stringify(dest)} is inside /${top}, which the driver mounts over`;
  }
  return null;
}

/** Lexical clean of a task-dir-relative path (leading "/" allowed, as Nomad joins it); null on escape. */
function normalize(p: string): string[] | null {
  const out: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Fetching (start time)

export interface FetchOptions {
  taskDir: string;
  uid: number;
  gid: number;
  limits?: Partial<ArtifactLimits>;
}

/** Downloads and places every artifact in order; the first failure throws an ArtifactError. */
export async function fetchArtifacts(artifacts: readonly ArtifactSpec[], opts: FetchOptions): Promise<void> {
  const limits = { ...DEFAULT_ARTIFACT_LIMITS, ...opts.limits };
  for (const a of artifacts) {
    try {
      await fetchOne(a, opts, limits);
    } catch (err) {
      if (err instanceof ArtifactError) throw err;
      const why = err instanceof BunkerError ? err.message : describe(err);
      throw new ArtifactError(displaySource(a.source), why);
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === "TimeoutError") return "timed out (http_read_timeout)";
    return err.message;
  }
  return String(err);
}

function displaySource(source: string): string {
  const u = new URL(source);
  u.hash = "";
  return u.toString();
}

function formatOf(source: string): Format | null {
  const u = new URL(source);
  const hint = /^#bunker-archive=(.+)$/.exec(u.hash)?.[1];
  if (hint !== undefined) return hint === "tgz" ? "tar.gz" : (hint as Format);
  const path = u.pathname.toLowerCase();
  const bad = UNSUPPORTED.find((ext) => path.endsWith(ext));
  if (bad !== undefined) {
    throw new ArchiveError(
      `${bad} archives are not supported; set options.archive = false to keep the file as is`,
    );
  }
  return FORMATS.find(([ext]) => path.endsWith(ext))?.[1] ?? null;
}

async function fetchOne(a: ArtifactSpec, opts: FetchOptions, limits: ArtifactLimits): Promise<void> {
  const format = a.archive ? formatOf(a.source) : null;
  const isTree = format === "tar" || format === "tar.gz" || format === "zip";
  if (a.mode === "dir" && !isTree)
    throw new ArchiveError("mode = dir needs an archive source (tar, tar.gz, tgz, zip)");
  if (a.mode === "file" && isTree) {
    throw new ArchiveError("mode = file cannot unpack a tar or zip archive; set options.archive = false");
  }
  const body = await download(a, limits);
  if (a.checksum !== undefined) checkChecksum(a.checksum, body);
  const parts = normalize(a.destination) ?? [];
  const { uid, gid } = opts;
  if (a.mode === "file") {
    if (parts.length === 0) throw new ArchiveError("mode = file needs a destination file name");
    const dir = mkdirsNoFollow(opts.taskDir, parts.slice(0, -1), uid, gid);
    writeNewFile(`${dir}/${parts.at(-1)}`, format === "gz" ? gunzip(body, limits) : body, 0o644, uid, gid);
    return;
  }
  const dir = mkdirsNoFollow(opts.taskDir, parts, uid, gid);
  const extract = {
    maxBytes: limits.decompressionSizeLimit,
    maxFiles: limits.decompressionFileCountLimit,
    uid,
    gid,
  };
  if (format === "zip") extractEntries(readZip(body), dir, extract);
  else if (format === "tar") extractEntries(readTar(body), dir, extract);
  else if (format === "tar.gz")
    extractEntries(readTar(gunzip(body, limits, limits.decompressionFileCountLimit)), dir, extract);
  else {
    let name = decodeURIComponent(new URL(a.source).pathname.split("/").at(-1) ?? "");
    if (format === "gz") name = name.slice(0, -".gz".length);
    const [only] = safeParts(name, "file name");
    if (only === undefined || name.includes("/")) {
      throw new ArchiveError("the URL names no file; use mode = file with a destination file name");
    }
    writeNewFile(`${dir}/${only}`, format === "gz" ? gunzip(body, limits) : body, 0o644, uid, gid);
  }
}

/** Headers and padding cost up to ~1.5 KiB per tar member on top of its data. */
function gunzip(body: Uint8Array, limits: ArtifactLimits, members = 0): Uint8Array {
  const max = limits.decompressionSizeLimit + (members + 2) * 1536;
  try {
    return gunzipSync(body, { maxOutputLength: max });
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
      throw new ArchiveError(
        `archive unpacks to more than ${limits.decompressionSizeLimit} bytes (decompression_size_limit)`,
      );
    }
    throw new ArchiveError(`gzip: ${describe(err)}`);
  }
}

function checkChecksum(checksum: string, body: Uint8Array): void {
  const [type = "", expected = ""] = checksum.split(":");
  const actual = createHash(type).update(body).digest("hex");
  if (actual !== expected) {
    throw new ArchiveError(`checksum mismatch: expected ${type}:${expected}, got ${type}:${actual}`);
  }
}

async function download(a: ArtifactSpec, limits: ArtifactLimits): Promise<Uint8Array> {
  const url = displaySource(a.source);
  const res = await fetch(url, {
    headers: a.headers,
    redirect: "follow",
    signal: AbortSignal.timeout(limits.httpReadTimeoutMs),
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new ArchiveError(`bad response code: ${res.status}`);
  }
  const tooBig = () =>
    new ArchiveError(`download is larger than ${limits.httpMaxBytes} bytes (http_max_size)`);
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (declared > limits.httpMaxBytes) {
    await res.body?.cancel();
    throw tooBig();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (res.body !== null) {
    for await (const chunk of res.body) {
      total += chunk.length;
      if (total > limits.httpMaxBytes) throw tooBig();
      chunks.push(chunk);
    }
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
