/**
 * Linux signal names and numbers (x86_64 / arm64 / the generic ABI share these).
 * Used for `kill_signal` and `alloc signal`.
 */
import { ValidationError } from "../errors.ts";

export const SIGNALS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
} as const;

export type SignalName = keyof typeof SIGNALS;

/** Other names the kernel headers give the same numbers. */
const ALIASES: Readonly<Record<string, number>> = { SIGIOT: 6, SIGPOLL: 29, SIGCLD: 17 };

/**
 * glibc reserves 32 and 33 for its threading, so user-visible real-time signals start at 34
 * (what `kill -l` and Go's syscall package call SIGRTMIN).
 */
export const SIGRTMIN = 34;
export const SIGRTMAX = 64;

const NAME_BY_NUMBER: ReadonlyMap<number, string> = new Map(
  Object.entries(SIGNALS).map(([name, n]) => [n, name]),
);

/** "SIGTERM" for 15, "SIGRTMIN+2" for 36; undefined outside 1..64. */
export function signalName(n: number): string | undefined {
  const known = NAME_BY_NUMBER.get(n);
  if (known !== undefined) return known;
  if (n === SIGRTMIN) return "SIGRTMIN";
  if (n === SIGRTMAX) return "SIGRTMAX";
  if (n > SIGRTMIN && n < SIGRTMAX) return `SIGRTMIN+${n - SIGRTMIN}`;
  return undefined;
}

/**
 * "SIGTERM", "term", "15", "SIGRTMIN+3", "RTMAX-1" -> the number.
 * Nomad silently sends SIGINT for a name it does not know; Bunker throws instead, because a
 * typo in kill_signal would otherwise turn a graceful stop into the wrong signal unnoticed.
 * `field` is the JSON pointer reported in the error (`/kill_signal` by default).
 */
export function parseSignal(raw: string | number, field = "/kill_signal"): number {
  const n = typeof raw === "number" ? raw : lookupSignal(raw);
  if (n !== undefined && Number.isInteger(n) && n >= 1 && n <= SIGRTMAX) return n;
  const message = `unknown signal "${String(raw)}"`;
  throw new ValidationError(message, [{ path: field, message }]);
}

function lookupSignal(raw: string): number | undefined {
  const s = raw.trim().toUpperCase();
  if (/^\d+$/.test(s)) return Number.parseInt(s, 10);
  const name = s.startsWith("SIG") ? s : `SIG${s}`;
  if (Object.hasOwn(SIGNALS, name)) return SIGNALS[name as SignalName];
  if (Object.hasOwn(ALIASES, name)) return ALIASES[name];
  return parseRealtime(name);
}

/** SIGRTMIN, SIGRTMIN+N, SIGRTMAX, SIGRTMAX-N (N within the real-time range). */
function parseRealtime(name: string): number | undefined {
  const m = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (m === null) return undefined;
  const base = m[1] === "MIN" ? SIGRTMIN : SIGRTMAX;
  const offset = m[3] === undefined ? 0 : Number.parseInt(m[3], 10);
  // SIGRTMIN-N and SIGRTMAX+N leave the range; only the directions that stay inside are valid.
  if (m[2] === "-" && base === SIGRTMIN && offset !== 0) return undefined;
  if (m[2] === "+" && base === SIGRTMAX && offset !== 0) return undefined;
  const n = m[2] === "-" ? base - offset : base + offset;
  return n >= SIGRTMIN && n <= SIGRTMAX ? n : undefined;
}

/** Canonical name of whatever parseSignal accepts ("term" -> "SIGTERM"). */
export function normalizeSignal(raw: string | number, field = "/kill_signal"): string {
  const n = parseSignal(raw, field);
  return signalName(n) ?? String(n);
}
