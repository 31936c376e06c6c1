/**
 * A zip reader over bytes in memory: the central directory is the truth (local headers only
 * locate the data), members stored (0) or deflated (8), CRC-32 checked. Zip64, encryption and
 * multi-disk archives are refused. Unix modes and symlinks come from the external attributes
 * when the creator was Unix (Info-ZIP's convention).
 */
import { crc32, inflateRawSync } from "node:zlib";
import { type ArchiveEntry, ArchiveError, type EntryKind } from "./entry.ts";

const EOCD_SIG = 0x06054b50;
const CDH_SIG = 0x02014b50;
const LFH_SIG = 0x04034b50;
const MADE_BY_UNIX = 3;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const decoder = new TextDecoder();

function findEocd(v: DataView): number {
  // The record is 22 bytes plus a comment of at most 65535.
  const stop = Math.max(0, v.byteLength - 22 - 0xffff);
  for (let i = v.byteLength - 22; i >= stop; i--) if (v.getUint32(i, true) === EOCD_SIG) return i;
  throw new ArchiveError("zip: no end of central directory record (not a zip file?)");
}

function kindOf(name: string, madeBy: number, external: number): { kind: EntryKind; mode: number } {
  const unixMode = madeBy >> 8 === MADE_BY_UNIX ? external >>> 16 : 0;
  const fmt = unixMode & S_IFMT;
  const mode = unixMode & 0o7777;
  if (name.endsWith("/") || fmt === S_IFDIR) return { kind: "dir", mode };
  if (fmt === S_IFLNK) return { kind: "symlink", mode };
  if (fmt === 0 || fmt === S_IFREG) return { kind: "file", mode };
  return { kind: "other", mode };
}

export function readZip(b: Uint8Array): ArchiveEntry[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 22) throw new ArchiveError("zip: file too short");
  const eocd = findEocd(v);
  const count = v.getUint16(eocd + 10, true);
  const cdOffset = v.getUint32(eocd + 16, true);
  if (v.getUint16(eocd + 4, true) !== 0 || count === 0xffff || cdOffset === 0xffffffff) {
    throw new ArchiveError("zip: multi-disk and zip64 archives are not supported");
  }
  const entries: ArchiveEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > b.length || v.getUint32(p, true) !== CDH_SIG) {
      throw new ArchiveError(`zip: bad central directory entry ${i}`);
    }
    const madeBy = v.getUint16(p + 4, true);
    const flags = v.getUint16(p + 8, true);
    const method = v.getUint16(p + 10, true);
    const crc = v.getUint32(p + 16, true);
    const csize = v.getUint32(p + 20, true);
    const usize = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    const external = v.getUint32(p + 38, true);
    const local = v.getUint32(p + 42, true);
    const name = decoder.decode(b.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    if (flags & 1) throw new ArchiveError(`zip: ${name} is encrypted`);
    if (csize === 0xffffffff || usize === 0xffffffff)
      throw new ArchiveError("zip: zip64 members are not supported");
    if (method !== 0 && method !== 8) {
      throw new ArchiveError(`zip: ${name} uses compression method ${method} (only stored and deflate)`);
    }
    const { kind, mode } = kindOf(name, madeBy, external);
    const data = (): Uint8Array => {
      if (local + 30 > b.length || v.getUint32(local, true) !== LFH_SIG) {
        throw new ArchiveError(`zip: bad local header for ${name}`);
      }
      const start = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
      if (start + csize > b.length) throw new ArchiveError(`zip: ${name} is truncated`);
      const raw = b.subarray(start, start + csize);
      let out: Uint8Array;
      try {
        // The declared size bounds the output: a member cannot inflate past what was checked.
        out = method === 0 ? raw : inflateRawSync(raw, { maxOutputLength: Math.max(1, usize) });
      } catch (err) {
        throw new ArchiveError(`zip: ${name}: ${(err as Error).message}`);
      }
      if (out.length !== usize || crc32(out) !== crc) {
        throw new ArchiveError(`zip: ${name} is corrupt (size or CRC-32 does not match)`);
      }
      return out;
    };
    const entry: ArchiveEntry = { name, kind, mode, size: kind === "dir" ? 0 : usize, linkname: "", data };
    if (kind === "symlink") {
      // A zip symlink keeps its target as the member's data.
      entry.linkname = usize > 4096 ? "" : decoder.decode(data());
    }
    entries.push(entry);
  }
  return entries;
}
