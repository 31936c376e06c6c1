/**
 * What the tar and zip readers yield and the extractor writes: one archive member, its data
 * read lazily (a zip member is inflated only once the extractor has checked its declared size).
 */
import { BunkerError } from "../../errors.ts";

export type EntryKind = "file" | "dir" | "symlink" | "hardlink" | "device" | "fifo" | "other";

export interface ArchiveEntry {
  /** Path inside the archive as written there ("./a/b", "a/b/", ...). */
  name: string;
  kind: EntryKind;
  /** Permission bits (0 when the archive has none). */
  mode: number;
  /** Declared size of the data in bytes (files only). */
  size: number;
  /** Symlink target, or the archive path a hard link points at. */
  linkname: string;
  data(): Uint8Array;
}

/** A malformed, unsupported or unsafe archive; the message names the member when there is one. */
export class ArchiveError extends BunkerError {
  constructor(message: string, detail?: Record<string, unknown>) {
    super("archive_invalid", message, detail);
    this.name = "ArchiveError";
  }
}
