/**
 * Synchronous cgroupfs access. Every failure becomes a CgroupError naming the
 * operation, the file and the errno, because "EINVAL" alone never tells an
 * operator which of a dozen limit files the kernel refused.
 */
import {
  closeSync,
  existsSync,
  constants as fsc,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmdirSync,
  writeSync,
} from "node:fs";
import { BunkerError } from "../errors.ts";

export class CgroupError extends BunkerError {
  constructor(message: string, detail?: Record<string, unknown>) {
    super("cgroup", message, detail);
    this.name = "CgroupError";
  }
}

/** The errno name of a Node/Bun fs error ("EINVAL"), or null for anything else. */
export function errnoOf(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : null;
}

function fail(op: string, path: string, err: unknown, hint?: string): CgroupError {
  const errno = errnoOf(err) ?? String(err);
  const suffix = hint === undefined ? "" : ` (${hint})`;
  return new CgroupError(`${op} ${path}: ${errno}${suffix}`, { op, path, errno });
}

/**
 * Writes without O_CREAT/O_TRUNC: a missing control file must fail with
 * ENOENT, never silently become a regular file.
 */
export function writeFile(path: string, value: string, hint?: string): void {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_WRONLY);
  } catch (err) {
    throw fail("open", path, err, hint);
  }
  try {
    writeSync(fd, value);
  } catch (err) {
    throw fail("write", path, err, hint);
  } finally {
    closeSync(fd);
  }
}

/** File contents, or null when it does not exist (a controller file this kernel lacks, a removed cgroup). */
export function readFileOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENODEV") return null;
    throw fail("read", path, err);
  }
}

export function readFile(path: string): string {
  const text = readFileOrNull(path);
  if (text === null) throw fail("read", path, { code: "ENOENT" });
  return text;
}

/** A single-number file such as pids.current; undefined when absent or "max". */
export function readNumber(path: string): number | undefined {
  return parseNumber(readFileOrNull(path));
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control); null when absent. */
export function readKeyed(path: string): Map<string, number> | null {
  const text = readFileOrNull(path);
  return text === null ? null : parseKeyed(text);
}

/** mkdir; returns false when it already existed (parents are shared, so that is normal for them). */
export function makeDir(path: string): boolean {
  try {
    mkdirSync(path);
    return true;
  } catch (err) {
    if (errnoOf(err) === "EEXIST") return false;
    throw fail("mkdir", path, err);
  }
}

const RMDIR_BUSY_RETRIES = 200;

/**
 * rmdir, retrying EBUSY: a cgroup stays busy for a moment after its last
 * process is killed (exit is asynchronous, v1 memory reparents its charge).
 * A missing directory counts as removed so remove() is idempotent.
 */
export async function removeDir(path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(path);
      return;
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === "ENOENT") return;
      if (errno !== "EBUSY" || attempt >= RMDIR_BUSY_RETRIES) throw fail("rmdir", path, err);
    }
    await Bun.sleep(attempt < 10 ? 1 : 10);
  }
}

/** True when the directory is gone (removed now or before); false when it is busy. */
export function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === "ENOENT") return true;
    if (errno === "EBUSY" || errno === "ENOTEMPTY") return false;
    throw fail("rmdir", dir, err);
  }
}

/** Drops absent values: with exactOptionalPropertyTypes an optional field may not hold undefined. */
export function compact<K extends string>(o: Record<K, number | undefined>): Partial<Record<K, number>> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<
    Record<K, number>
  >;
}

/**
 * A cgroup file kept open to be read again and again (pread at 0 makes the
 * kernel render it afresh): what a task's end reads costs no path walk.
 */
export class OpenFile {
  #fd: number | null;
  static readonly #buf = Buffer.alloc(4096);

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.#fd = fd;
  }

  /** Null when the file does not exist (a controller this kernel lacks). */
  static open(path: string): OpenFile | null {
    try {
      return new OpenFile(path, openSync(path, fsc.O_RDONLY));
    } catch (err) {
      if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENODEV") return null;
      throw fail("open", path, err);
    }
  }

  read(): string | null {
    if (this.#fd === null) return null;
    try {
      const n = readSync(this.#fd, OpenFile.#buf, 0, OpenFile.#buf.length, 0);
      return OpenFile.#buf.toString("utf8", 0, n);
    } catch (err) {
      if (errnoOf(err) === "ENODEV") return null; // the cgroup is gone
      throw fail("read", this.path, err);
    }
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

/** A single-number text such as pids.peak; undefined when empty or "max". */
export function parseNumber(text: string | null | undefined): number | undefined {
  const t = text?.trim();
  if (t === undefined || t === "" || t === "max") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** "key value" lines into a map. */
export function parseKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key !== undefined && value !== undefined) out.set(key, Number(value));
  }
  return out;
}

const filePresence = new Map<string, boolean>();

/**
 * Whether the kernel gives cgroups of this controller a file such as
 * memory.memsw.limit_in_bytes (swap accounting): the same for every task, so
 * asked of the first directory and remembered.
 */
export function kernelHasFile(dir: string, file: string): boolean {
  let has = filePresence.get(file);
  if (has === undefined) {
    has = existsSync(`${dir}/${file}`);
    filePresence.set(file, has);
  }
  return has;
}

/** Names of the directories in `dir` (a cgroup's children); none when it is gone. */
export function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return [];
    throw new CgroupError(`readdir ${dir}: ${errnoOf(err) ?? String(err)}`);
  }
}
