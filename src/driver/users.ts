/**
 * Task user resolution, read from the task root's /etc/passwd and /etc/group (not the agent's
 * NSS: the task runs inside its root, so that is the database its programs see), plus Nomad's
 * `denied_host_uids` / `denied_host_gids` checks.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ValidationError } from "../errors.ts";

/** Nomad's exec default when a task sets no `user`. */
export const DEFAULT_USER = "nobody";

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups for setgroups(2), primary gid first, no duplicates. */
  groups: number[];
  home: string;
  name: string;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Parses passwd(5) text; comments, blank and malformed lines are skipped like glibc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const fields of colonLines(text, 7)) {
    const uid = parseId(fields[2]);
    const gid = parseId(fields[3]);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: fields[0] ?? "", uid, gid, home: fields[5] || "/", shell: fields[6] ?? "" });
  }
  return out;
}

/** Parses group(5) text. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const fields of colonLines(text, 4)) {
    const gid = parseId(fields[2]);
    if (gid === undefined) continue;
    const members = (fields[3] ?? "")
      .split(",")
      .map((m) => m.trim())
      .filter((m) => m !== "");
    out.push({ name: fields[0] ?? "", gid, members });
  }
  return out;
}

function colonLines(text: string, minFields: number): string[][] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => line.split(":"))
    .filter((fields) => fields.length >= minFields && fields[0] !== "");
}

function parseId(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffffffff ? n : undefined;
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export interface ResolveUserOptions {
  /** Directory whose etc/passwd and etc/group are read; default "/". */
  root?: string;
  /** Plugin `allow_root`; without it uid 0 is refused (Nomad's user.denylist has root). */
  allowRoot?: boolean;
  deniedHostUids?: string;
  deniedHostGids?: string;
}

/**
 * `user` (a name or a numeric uid, empty = nobody) -> ids, groups and home.
 * A numeric uid absent from passwd still runs (images often use bare uids); it then gets
 * gid = uid rather than gid 0, so an unnamed user never lands in root's group.
 */
interface Accounts {
  stamp: string;
  passwd: PasswdEntry[];
  groups: GroupEntry[];
}

const accounts = new Map<string, Accounts>();

/** size:mtime of a file, or "-" when it is missing. */
function stampOf(path: string): string {
  try {
    const st = statSync(path);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return "-";
  }
}

/**
 * passwd and group of a root, parsed once and parsed again only when either
 * file changes: every task start resolves its user, and two stats cost far
 * less than reading and parsing both files.
 */
function accountsOf(root: string): { passwd: PasswdEntry[]; groups: GroupEntry[] } {
  const passwdPath = join(root, "etc/passwd");
  const groupPath = join(root, "etc/group");
  const stamp = `${stampOf(passwdPath)}|${stampOf(groupPath)}`;
  const cached = accounts.get(root);
  if (cached?.stamp === stamp) return cached;
  const fresh = {
    stamp,
    passwd: parsePasswd(readOptional(passwdPath)),
    groups: parseGroup(readOptional(groupPath)),
  };
  accounts.set(root, fresh);
  return fresh;
}

export function resolveUser(user: string, opts: ResolveUserOptions = {}): ResolvedUser {
  const root = opts.root ?? "/";
  const name = user.trim() === "" ? DEFAULT_USER : user.trim();
  const { passwd, groups } = accountsOf(root);
  const resolved = fromPasswd(name, passwd, groups) ?? fromBareUid(name);
  if (resolved === undefined) {
    throw userError(`user "${name}" not found`);
  }
  if (resolved.uid === 0 && opts.allowRoot !== true) throw rootRefused(name);
  checkDeniedIds(resolved, opts.deniedHostUids ?? "", opts.deniedHostGids ?? "");
  return resolved;
}

function fromPasswd(name: string, passwd: PasswdEntry[], groups: GroupEntry[]): ResolvedUser | undefined {
  const numeric = parseId(name);
  // A name wins over a uid when both match: "1000" could be a user literally named 1000.
  const entry =
    passwd.find((p) => p.name === name) ??
    (numeric === undefined ? undefined : passwd.find((p) => p.uid === numeric));
  if (entry === undefined) return undefined;
  const supplementary = groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid);
  return {
    uid: entry.uid,
    gid: entry.gid,
    groups: [...new Set([entry.gid, ...supplementary])],
    home: entry.home,
    name: entry.name,
  };
}

function fromBareUid(name: string): ResolvedUser | undefined {
  const uid = parseId(name);
  if (uid === undefined) return undefined;
  return { uid, gid: uid, groups: [uid], home: "/", name };
}

/** Early, name-only form of the root check, usable before the task root exists. */
export function assertUserAllowed(user: string, allowRoot: boolean): void {
  const name = user.trim();
  if (!allowRoot && (name === "root" || name === "0")) throw rootRefused(name);
}

function rootRefused(name: string): ValidationError {
  // Nomad's client refuses root for exec through `user.denylist`; Bunker makes it a plugin switch.
  return userError(
    `running as user "${name}" (uid 0) is disallowed; set allow_root = true in the plugin config`,
  );
}

function userError(message: string): ValidationError {
  return new ValidationError(message, [{ path: "/user", message }]);
}

/** Inclusive id ranges, as parsed from "0,10-15". */
export type IdRanges = readonly (readonly [number, number])[];

/**
 * Nomad's id range syntax: comma-separated ids or `lo-hi` ranges ("0,10-15"); empty = none.
 * `field` names the plugin option in the error.
 */
export function parseIdRanges(spec: string, field = "denied_host_uids"): IdRanges {
  const out: [number, number][] = [];
  for (const part of spec.split(",")) {
    const item = part.trim();
    if (item === "") continue;
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(item);
    const lo = parseId(m?.[1]);
    const hi = m?.[2] === undefined ? lo : parseId(m[2]);
    if (lo === undefined || hi === undefined || hi < lo) {
      const message = `${field}: invalid id range "${item}" (want "N" or "LOW-HIGH", e.g. "0,10-15")`;
      throw new ValidationError(message, [{ path: `/${field}`, message }]);
    }
    out.push([lo, hi]);
  }
  return out;
}

export function idInRanges(id: number, ranges: IdRanges): boolean {
  return ranges.some(([lo, hi]) => id >= lo && id <= hi);
}

/**
 * Nomad's check at task start: the uid, and every gid the process will hold, must be outside
 * the denied ranges.
 */
export function checkDeniedIds(user: ResolvedUser, deniedUids: string, deniedGids: string): void {
  const uidRanges = parseIdRanges(deniedUids, "denied_host_uids");
  if (idInRanges(user.uid, uidRanges)) throw userError(`running as uid ${user.uid} is disallowed`);
  const gidRanges = parseIdRanges(deniedGids, "denied_host_gids");
  for (const gid of [user.gid, ...user.groups]) {
    if (idInRanges(gid, gidRanges)) throw userError(`running as gid ${gid} is disallowed`);
  }
}
