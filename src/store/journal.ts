/**
 * The writer's local journal: append-only NDJSON files under `<dataDir>/journal`.
 * Each spill is one fsync'd append, so after a crash a file holds whole lines
 * plus at most one torn last line, which is skipped. Files are named so that
 * sorting by name is the order they were written in; a file is deleted only
 * after every line in it has been committed to the database.
 */
import { type FileHandle, mkdir, open, readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { NewInvocation, NewSpan, NewUsage } from "./records.ts";

export type WriteEntry =
  | { kind: "invocation"; row: NewInvocation }
  | { kind: "usage"; row: NewUsage }
  | { kind: "span"; row: NewSpan };

/** How a field that JSON cannot carry was encoded, so decoding never guesses from the value's shape. */
type FieldType = "date" | "bigint";

interface JournalLine {
  kind: WriteEntry["kind"];
  row: Record<string, unknown>;
  types?: Record<string, FieldType>;
}

export function encodeEntry(entry: WriteEntry): string {
  const row: Record<string, unknown> = {};
  const types: Record<string, FieldType> = {};
  for (const [key, value] of Object.entries(entry.row)) {
    if (value instanceof Date) {
      row[key] = value.toISOString();
      types[key] = "date";
    } else if (typeof value === "bigint") {
      row[key] = value.toString();
      types[key] = "bigint";
    } else {
      row[key] = value;
    }
  }
  const line: JournalLine = { kind: entry.kind, row };
  if (Object.keys(types).length > 0) line.types = types;
  return JSON.stringify(line);
}

/** Decodes one journal line; undefined for a torn or foreign line. */
export function decodeEntry(text: string): WriteEntry | undefined {
  let line: JournalLine;
  try {
    line = JSON.parse(text) as JournalLine;
  } catch {
    return undefined;
  }
  if (typeof line !== "object" || line === null || typeof line.row !== "object") return undefined;
  const row = { ...line.row };
  for (const [key, type] of Object.entries(line.types ?? {})) {
    const value = row[key];
    if (typeof value !== "string") continue;
    row[key] = type === "date" ? new Date(value) : BigInt(value);
  }
  if (line.kind === "invocation") return { kind: "invocation", row: row as NewInvocation };
  if (line.kind === "usage") return { kind: "usage", row: row as NewUsage };
  if (line.kind === "span") return { kind: "span", row: row as NewSpan };
  return undefined;
}

export class Journal {
  readonly dir: string;
  readonly rejectedDir: string;
  private seq = 0;
  /** Files this process is still appending to; a replay must not read and delete them half-written. */
  private readonly active = new Set<string>();

  constructor(dataDir: string) {
    this.dir = join(dataDir, "journal");
    this.rejectedDir = join(this.dir, "rejected");
  }

  /** Appends entries as one new file and fsyncs it before returning. */
  async spill(entries: readonly WriteEntry[]): Promise<string> {
    return this.appendDurably(this.dir, this.nextName(), entries);
  }

  /** Keeps entries the database refused for good (bad data), for an operator to inspect. */
  async reject(entries: readonly WriteEntry[]): Promise<void> {
    await this.appendDurably(this.rejectedDir, "rejected.ndjson", entries);
  }

  /** Pending files, oldest first. */
  async files(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith(".ndjson"))
      .sort()
      .map((n) => join(this.dir, n))
      .filter((file) => !this.active.has(file));
  }

  async read(file: string): Promise<WriteEntry[]> {
    const text = await readFile(file, "utf8");
    const entries: WriteEntry[] = [];
    for (const line of text.split("\n")) {
      const entry = line.length > 0 ? decodeEntry(line) : undefined;
      if (entry) entries.push(entry);
    }
    return entries;
  }

  async remove(file: string): Promise<void> {
    await unlink(file);
  }

  /** Sortable by time, unique per process and call: `<ms>-<pid>-<seq>.ndjson`. */
  private nextName(): string {
    this.seq += 1;
    const ms = Date.now().toString().padStart(15, "0");
    const seq = this.seq.toString().padStart(8, "0");
    return `${ms}-${process.pid}-${seq}.ndjson`;
  }

  private async appendDurably(dir: string, name: string, entries: readonly WriteEntry[]): Promise<string> {
    const file = join(dir, name);
    const text = `${entries.map(encodeEntry).join("\n")}\n`;
    this.active.add(file);
    try {
      await mkdir(dir, { recursive: true });
      await withHandle(file, "a", async (handle) => {
        await handle.writeFile(text);
        // On disk before the caller lets go of its in-memory copy.
        await handle.sync();
      });
      // A new file's name lives in the directory: sync that too, or a crash can forget the file.
      await withHandle(dir, "r", (handle) => handle.sync());
    } finally {
      this.active.delete(file);
    }
    return file;
  }
}

async function withHandle<T>(
  path: string,
  flags: string,
  use: (handle: FileHandle) => Promise<T>,
): Promise<T> {
  const handle = await open(path, flags);
  try {
    return await use(handle);
  } finally {
    await handle.close();
  }
}
