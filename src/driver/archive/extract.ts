/**
 * Writes archive members under a destination directory, as root, on behalf of a task: so
 * nothing may land outside it. Names must be relative without "..", symlinks and hard links
 * must point inside, device files and FIFOs are refused, and no member is ever written
 * through a symlink (every parent component is checked with lstat, files are opened
 * O_EXCL|O_NOFOLLOW). Limits on total bytes and member count stop decompression bombs.
 */
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  rmdirSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { type ArchiveEntry, ArchiveError } from "./entry.ts";

export interface ExtractOptions {
  /** Max total bytes of file data (decompression_size_limit). */
  maxBytes: number;
  /** Max members (decompression_file_count_limit). */
  maxFiles: number;
  /** Owner of everything written. */
  uid: number;
  gid: number;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/**
 * "a/./b/" -> ["a", "b"]; absolute names and ".." are refused with the member named.
 * `what` says which field it was ("member", "hard link target").
 */
export function safeParts(name: string, what: string): string[] {
  if (name.startsWith("/"))
    throw new ArchiveError(`archive ${what} ${JSON.stringify(name)} has an absolute path`);
  if (name.includes("\0"))
    throw new ArchiveError(`archive ${what} ${JSON.stringify(name)} contains a NUL byte`);
  const parts = name.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) {
    throw new ArchiveError(`archive ${what} ${JSON.stringify(name)} escapes the destination ("..")`);
  }
  return parts;
}

/**
 * Creates `parts` below `root` (owned by uid/gid, 0755), refusing any existing component that is
 * not a real directory. Returns the host path.
 */
export function mkdirsNoFollow(root: string, parts: readonly string[], uid: number, gid: number): string {
  let path = root;
  for (const part of parts) {
    path = `${path}/${part}`;
    const st = lstatOrNull(path);
    if (st === null) {
      mkdirSync(path, { mode: 0o755 });
      chownSync(path, uid, gid);
    } else if (st.isSymbolicLink()) {
      throw new ArchiveError(`${path} is a symlink; refusing to write through it`);
    } else if (!st.isDirectory()) {
      throw new ArchiveError(`${path} is not a directory`);
    }
  }
  return path;
}

/** Writes `data` to a new file at `path` (replacing a file or symlink there, never following one). */
export function writeNewFile(path: string, data: Uint8Array, mode: number, uid: number, gid: number): void {
  const st = lstatOrNull(path);
  if (st?.isDirectory()) rmdirSync(path);
  else if (st !== null) unlinkSync(path);
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fchownSync(fd, uid, gid);
    // No setuid/setgid/sticky from an archive: only permission bits.
    fchmodSync(fd, mode & 0o777);
  } finally {
    closeSync(fd);
  }
}

/** Lexically resolves a symlink target against its directory; null when it leaves the root. */
function linkStaysInside(dirParts: readonly string[], target: string): boolean {
  const stack = [...dirParts];
  for (const c of target.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (stack.length === 0) return false;
      stack.pop();
    } else stack.push(c);
  }
  return true;
}

export interface ExtractResult {
  files: number;
  bytes: number;
}

export function extractEntries(
  entries: Iterable<ArchiveEntry>,
  dest: string,
  opts: ExtractOptions,
): ExtractResult {
  let count = 0;
  let bytes = 0;
  for (const e of entries) {
    if (++count > opts.maxFiles) {
      throw new ArchiveError(
        `archive has more than ${opts.maxFiles} members (decompression_file_count_limit)`,
      );
    }
    const parts = safeParts(e.name, "member");
    if (parts.length === 0) continue;
    const q = JSON.stringify(e.name);
    const dirParts = parts.slice(0, -1);
    const parent = mkdirsNoFollow(dest, dirParts, opts.uid, opts.gid);
    const path = `${parent}/${parts.at(-1)}`;
    switch (e.kind) {
      case "dir": {
        const st = lstatOrNull(path);
        if (st !== null && !st.isDirectory()) unlinkSync(path);
        if (st === null || !st.isDirectory()) mkdirSync(path);
        chownSync(path, opts.uid, opts.gid);
        chmodSync(path, e.mode === 0 ? 0o755 : e.mode & 0o777);
        break;
      }
      case "file": {
        bytes += e.size;
        if (bytes > opts.maxBytes) {
          throw new ArchiveError(
            `archive unpacks to more than ${opts.maxBytes} bytes (decompression_size_limit)`,
          );
        }
        writeNewFile(path, e.data(), e.mode === 0 ? 0o644 : e.mode, opts.uid, opts.gid);
        break;
      }
      case "symlink": {
        if (e.linkname === "" || e.linkname.startsWith("/")) {
          throw new ArchiveError(
            `archive symlink ${q} points to ${JSON.stringify(e.linkname)}, outside the destination`,
          );
        }
        if (!linkStaysInside(dirParts, e.linkname)) {
          throw new ArchiveError(
            `archive symlink ${q} points to ${JSON.stringify(e.linkname)}, outside the destination`,
          );
        }
        if (lstatOrNull(path) !== null) unlinkSync(path);
        symlinkSync(e.linkname, path);
        lchownSync(path, opts.uid, opts.gid);
        break;
      }
      case "hardlink": {
        const targetParts = safeParts(e.linkname, `hard link ${q} target`);
        const targetDir = mkdirsNoFollow(dest, targetParts.slice(0, -1), opts.uid, opts.gid);
        const target = `${targetDir}/${targetParts.at(-1) ?? ""}`;
        if (targetParts.length === 0 || !lstatOrNull(target)?.isFile()) {
          throw new ArchiveError(
            `archive hard link ${q} points to ${JSON.stringify(e.linkname)}, not a file unpacked before it`,
          );
        }
        if (lstatOrNull(path) !== null) unlinkSync(path);
        linkSync(target, path);
        break;
      }
      case "device":
        throw new ArchiveError(`archive member ${q} is a device file; refused`);
      case "fifo":
        throw new ArchiveError(`archive member ${q} is a FIFO; refused`);
      default:
        throw new ArchiveError(`archive member ${q} has an unsupported type; refused`);
    }
  }
  return { files: count, bytes };
}
