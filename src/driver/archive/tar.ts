/**
 * A tar reader over bytes in memory: POSIX ustar, GNU long names ('L', 'K') and PAX extended
 * headers ('x' path, linkpath, size; 'g' ignored). Enough for what `tar`, GNU tar, bsdtar and
 * Go's archive/tar write. It only parses; the extractor decides what is safe to write.
 */
import { type ArchiveEntry, ArchiveError, type EntryKind } from "./entry.ts";

const BLOCK = 512;
const decoder = new TextDecoder();

function cstring(b: Uint8Array, off: number, len: number): string {
  const field = b.subarray(off, off + len);
  const nul = field.indexOf(0);
  return decoder.decode(nul === -1 ? field : field.subarray(0, nul));
}

/** Octal, NUL/space padded; or GNU base-256 when the first byte has its high bit set. */
function numeric(b: Uint8Array, off: number, len: number): number {
  const first = b[off] ?? 0;
  if (first & 0x80) {
    let n = first & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + (b[off + i] ?? 0);
    return n;
  }
  const text = cstring(b, off, len).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new ArchiveError(`tar: bad numeric field ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

function checksumOk(b: Uint8Array, off: number): boolean {
  const want = numeric(b, off + 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (b[off + i] ?? 0);
  return sum === want;
}

function kindOf(type: number): EntryKind | "meta" {
  switch (String.fromCharCode(type)) {
    case "0":
    case "\0":
    case "7":
      return "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
    case "4":
      return "device";
    case "5":
      return "dir";
    case "6":
      return "fifo";
    case "x":
    case "g":
    case "L":
    case "K":
      return "meta";
    default:
      return "other";
  }
}

/** PAX records: "<len> <key>=<value>\n". */
function parsePax(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const text = decoder.decode(data);
  let i = 0;
  while (i < text.length) {
    const space = text.indexOf(" ", i);
    const len = Number.parseInt(text.slice(i, space), 10);
    if (space === -1 || !Number.isFinite(len) || len <= 0) break;
    const record = text.slice(space + 1, i + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    i += len;
  }
  return out;
}

export function* readTar(b: Uint8Array): Generator<ArchiveEntry> {
  let off = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  while (off + BLOCK <= b.length) {
    const hOff = off;
    const header = b.subarray(off, off + BLOCK);
    if (header.every((x) => x === 0)) return;
    if (!checksumOk(b, off)) throw new ArchiveError(`tar: bad header checksum at byte ${off}`);
    const type = b[off + 156] ?? 0;
    const paxSize = pax.get("size");
    const size = paxSize === undefined ? numeric(b, off + 124, 12) : Number(paxSize);
    const start = off + BLOCK;
    if (!Number.isSafeInteger(size) || size < 0 || start + size > b.length) {
      throw new ArchiveError(`tar: truncated archive (member at byte ${off} needs ${size} bytes)`);
    }
    const data = b.subarray(start, start + size);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    const kind = kindOf(type);
    const t = String.fromCharCode(type);
    if (kind === "meta") {
      if (t === "x") pax = parsePax(data);
      else if (t === "L") longName = cstring(data, 0, data.length);
      else if (t === "K") longLink = cstring(data, 0, data.length);
      continue;
    }
    let name = cstring(b, hOff, 100);
    const magic = cstring(b, hOff + 257, 6);
    if (magic === "ustar") {
      const prefix = cstring(b, hOff + 345, 155);
      if (prefix !== "") name = `${prefix}/${name}`;
    }
    const entry: ArchiveEntry = {
      name: pax.get("path") ?? longName ?? name,
      kind,
      mode: numeric(b, hOff + 100, 8) & 0o7777,
      size: kind === "file" ? size : 0,
      linkname: pax.get("linkpath") ?? longLink ?? cstring(b, hOff + 157, 100),
      data: () => data,
    };
    longName = undefined;
    longLink = undefined;
    pax = new Map();
    yield entry;
  }
  // A stream cut before its two zero blocks still yields what it held, as tar(1) does.
}
