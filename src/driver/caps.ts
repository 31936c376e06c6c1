/**
 * Linux capabilities the way Nomad's exec driver computes them
 * (drivers/shared/capabilities): names are case-insensitive, the `CAP_` prefix is optional,
 * and the task gets `(defaults ∩ allow_caps) − cap_drop ∪ cap_add`.
 * Sets are carried as 64-bit masks (bit N = capability N) because that is what capset(2) takes.
 */
import { readFileSync } from "node:fs";
import { ValidationError } from "../errors.ts";

/** Capability numbers from <linux/capability.h>, in their C spelling so one grep finds C and TS. */
export const CAPABILITIES = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
} as const;

export type CapName = keyof typeof CAPABILITIES;

/** The highest capability this table knows. */
export const CAP_LAST_KNOWN = 40;

const NAME_BY_NUMBER: ReadonlyMap<number, CapName> = new Map(
  (Object.entries(CAPABILITIES) as [CapName, number][]).map(([name, n]) => [n, name]),
);

/**
 * Nomad's default allow list: Docker's default set minus NET_RAW (so a task cannot forge packets
 * or ping-sweep by default).
 */
export const NOMAD_DEFAULT_CAPS: readonly CapName[] = [
  "CAP_AUDIT_WRITE",
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_MKNOD",
  "CAP_NET_BIND_SERVICE",
  "CAP_SETFCAP",
  "CAP_SETGID",
  "CAP_SETPCAP",
  "CAP_SETUID",
  "CAP_SYS_CHROOT",
];

/** Number of a capability (e.g. "CAP_SYS_ADMIN" -> 21). */
export function capNumber(name: CapName): number {
  return CAPABILITIES[name];
}

/** Name of a capability number (e.g. 21 -> "CAP_SYS_ADMIN"), or undefined for unknown numbers. */
export function capName(n: number): CapName | undefined {
  return NAME_BY_NUMBER.get(n);
}

/**
 * "sys_admin", "CAP_SYS_ADMIN", "Cap_Sys_Admin" -> "CAP_SYS_ADMIN"; undefined when unknown.
 * Whitespace is trimmed because HCL lists often carry it.
 */
export function normalizeCap(raw: string): CapName | undefined {
  const upper = raw.trim().toUpperCase();
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  return Object.hasOwn(CAPABILITIES, full) ? (full as CapName) : undefined;
}

/** Nomad's spelling of a capability in messages and sets: lower case without the prefix. */
export function nomadCapSpelling(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.startsWith("cap_") ? lower.slice(4) : lower;
}

const PROC_CAP_LAST_CAP = "/proc/sys/kernel/cap_last_cap";
let cachedLastCap: number | undefined;

/**
 * Highest capability number the running kernel supports (/proc/sys/kernel/cap_last_cap).
 * Falls back to the table's last entry when /proc is unavailable (e.g. in a unit-test sandbox).
 * The kernel's value cannot change while we run, so the default file is read once.
 */
export function capLastCap(procFile = PROC_CAP_LAST_CAP): number {
  if (procFile === PROC_CAP_LAST_CAP && cachedLastCap !== undefined) return cachedLastCap;
  let n = CAP_LAST_KNOWN;
  try {
    const read = Number.parseInt(readFileSync(procFile, "utf8").trim(), 10);
    if (Number.isInteger(read) && read >= 0) n = read;
  } catch {
    // keep the table's last entry
  }
  if (procFile === PROC_CAP_LAST_CAP) cachedLastCap = n;
  return n;
}

/** Capabilities both the kernel and this table know, in number order. */
export function supportedCaps(lastCap = capLastCap()): CapName[] {
  const out: CapName[] = [];
  for (let n = 0; n <= Math.min(lastCap, CAP_LAST_KNOWN); n++) {
    const name = NAME_BY_NUMBER.get(n);
    if (name !== undefined) out.push(name);
  }
  return out;
}

/** Which config field a list came from; it names the field in Nomad's error text. */
export type CapField = "allow_caps" | "cap_add" | "cap_drop";

/**
 * Turns a configured list into a set of known, kernel-supported names. `"all"` expands to every
 * supported capability. Unknown names throw Nomad's `<field> configured with capabilities not
 * supported by system: a, b`.
 */
export function parseCapList(field: CapField, list: readonly string[], lastCap = capLastCap()): Set<CapName> {
  const supported = supportedCaps(lastCap);
  const supportedSet = new Set<CapName>(supported);
  const out = new Set<CapName>();
  const bad = new Set<string>();
  for (const raw of list) {
    if (raw.trim().toLowerCase() === "all") {
      for (const c of supported) out.add(c);
      continue;
    }
    const name = normalizeCap(raw);
    if (name === undefined || !supportedSet.has(name)) bad.add(nomadCapSpelling(raw));
    else out.add(name);
  }
  if (bad.size > 0) {
    const message = `${field} configured with capabilities not supported by system: ${nomadJoin(bad)}`;
    throw new ValidationError(message, [{ path: capFieldPointer(field), message }]);
  }
  return out;
}

function capFieldPointer(field: CapField): string {
  return field === "allow_caps" ? "/allow_caps" : `/config/${field}`;
}

/** Nomad prints a set sorted, lower case, comma+space separated. */
function nomadJoin(names: Iterable<string>): string {
  return [...names].map(nomadCapSpelling).sort().join(", ");
}

export interface CapsInput {
  /** Plugin allow list; `"all"` (or a list containing "all") = every supported capability. */
  allowCaps: readonly string[] | "all";
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  /** Highest supported capability number; defaults to the running kernel's. */
  lastCap?: number;
}

export interface CapsResult {
  /** Bit N set = capability N granted. */
  mask: bigint;
  /** Granted capabilities, `CAP_` spelling, sorted by name (like Nomad's Slice(true)). */
  names: CapName[];
}

/**
 * The task's capability set: `(defaults ∩ allow_caps) − cap_drop ∪ cap_add`.
 * cap_add is checked against allow_caps first, so a task can never widen what the operator allowed;
 * cap_add wins over cap_drop so `cap_drop = ["all"]` + `cap_add = [...]` is the usual minimal pattern.
 */
export function computeCaps(input: CapsInput): CapsResult {
  const lastCap = input.lastCap ?? capLastCap();
  const allowList = input.allowCaps === "all" ? ["all"] : input.allowCaps;
  const allow = parseCapList("allow_caps", allowList, lastCap);
  const add = parseCapList("cap_add", input.capAdd ?? [], lastCap);
  const drop = parseCapList("cap_drop", input.capDrop ?? [], lastCap);

  const missing = [...add].filter((c) => !allow.has(c));
  if (missing.length > 0) {
    const message = `driver does not allow the following capabilities: ${nomadJoin(missing)}`;
    throw new ValidationError(message, [{ path: "/config/cap_add", message }]);
  }

  const result = new Set<CapName>(NOMAD_DEFAULT_CAPS.filter((c) => allow.has(c)));
  for (const c of drop) result.delete(c);
  for (const c of add) result.add(c);
  return { mask: capsToMask(result), names: [...result].sort() };
}

export function capsToMask(names: Iterable<CapName>): bigint {
  let mask = 0n;
  for (const name of names) mask |= 1n << BigInt(CAPABILITIES[name]);
  return mask;
}

export function maskToCaps(mask: bigint): CapName[] {
  const out: CapName[] = [];
  for (let n = 0; n <= 63; n++) {
    if ((mask >> BigInt(n)) & 1n) {
      const name = NAME_BY_NUMBER.get(n);
      if (name !== undefined) out.push(name);
    }
  }
  return out.sort();
}

/** The five per-thread sets the child installs before execve. */
export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  bounding: bigint;
  ambient: bigint;
}

/**
 * Sets for a task with capability mask `mask`.
 * A non-root process loses its permitted/effective sets at execve unless they are ambient, so for a
 * non-root user the mask also goes into ambient (Nomad does the same). The kernel only keeps an
 * ambient capability that is also permitted and inheritable, so inheritable = mask there too;
 * with inheritable = 0 the ambient raise fails with EPERM.
 * Root keeps permitted/effective through execve without ambient, so inheritable stays 0 and
 * nothing extra can be picked up through file capabilities. Bounding limits what any later
 * execve (setuid binaries, file caps) can regain.
 */
export function capSets(mask: bigint, isRootUser: boolean): CapSets {
  return {
    effective: mask,
    permitted: mask,
    inheritable: isRootUser ? 0n : mask,
    bounding: mask,
    ambient: isRootUser ? 0n : mask,
  };
}
