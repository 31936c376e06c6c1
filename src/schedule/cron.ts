/**
 * Five-field cron expressions (minute hour day-of-month month day-of-week) with Vixie cron's
 * semantics, and next-time computation in an IANA time zone through Temporal.
 *
 * Daylight saving: fire times are wall-clock times in the zone. A wall-clock time that does not
 * exist (spring forward, e.g. 02:30 in New York on the second Sunday of March) is skipped, like
 * Nomad. A wall-clock time that happens twice (fall back, 01:30 on the first Sunday of November)
 * fires once, at its first occurrence — Nomad fires it twice.
 */
import { ValidationError } from "../errors.ts";

export interface CronField {
  /** Sorted, unique allowed values. */
  readonly values: readonly number[];
  /** The field was written starting with `*` (Vixie: `*` and `*\/n` count as unrestricted for the day rule). */
  readonly star: boolean;
}

export interface Cron {
  /** The expression as written (macros kept). */
  readonly source: string;
  readonly minute: CronField;
  readonly hour: CronField;
  readonly dayOfMonth: CronField;
  readonly month: CronField;
  /** 0 = Sunday ... 6 = Saturday (7 is folded into 0). */
  readonly dayOfWeek: CronField;
}

const MACROS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

interface FieldDef {
  name: string;
  min: number;
  max: number;
  /** Names for values, index + nameBase = value. */
  names?: readonly string[];
  nameBase?: number;
}

const FIELDS: readonly FieldDef[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, nameBase: 1 },
  // 7 is accepted as Sunday, as in Vixie cron.
  { name: "day-of-week", min: 0, max: 7, names: DAYS, nameBase: 0 },
];

/** A cron expression that cannot be parsed or never matches; the message says which field and why. */
export class CronError extends ValidationError {
  constructor(expr: string, reason: string) {
    super(`invalid cron "${expr}": ${reason}`, [{ path: "", message: reason }]);
    this.name = "CronError";
  }
}

function parseValue(text: string, def: FieldDef, expr: string): number {
  const upper = text.toUpperCase();
  const named = def.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + (def.nameBase ?? 0);
  if (!/^\d+$/.test(text)) {
    const hint = def.names ? ` (a number or a name ${def.names[0]}-${def.names.at(-1)})` : "";
    throw new CronError(expr, `${def.name} field: "${text}" is not a number${hint}`);
  }
  const n = Number(text);
  if (n < def.min || n > def.max) {
    throw new CronError(expr, `${def.name} field: ${n} is out of range ${def.min}-${def.max}`);
  }
  return n;
}

function parseField(text: string, def: FieldDef, expr: string): CronField {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    if (part === "") throw new CronError(expr, `${def.name} field "${text}" has an empty list item`);
    const [range = "", stepText, extra] = part.split("/");
    if (extra !== undefined) throw new CronError(expr, `${def.name} field: "${part}" has more than one "/"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) {
        throw new CronError(
          expr,
          `${def.name} field: step "${stepText}" in "${part}" must be a positive integer`,
        );
      }
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === "*") {
      lo = def.min;
      hi = def.name === "day-of-week" ? 6 : def.max;
    } else if (range.includes("-")) {
      const [a = "", b = "", more] = range.split("-");
      if (more !== undefined) throw new CronError(expr, `${def.name} field: "${range}" is not a range a-b`);
      lo = parseValue(a, def, expr);
      hi = parseValue(b, def, expr);
      if (lo > hi) throw new CronError(expr, `${def.name} field: range "${range}" goes backwards`);
    } else {
      lo = parseValue(range, def, expr);
      // "a/n" means "from a to the end, every n" (cronie, croner); a plain "a" is just a.
      hi = stepText === undefined ? lo : def.max;
    }
    for (let v = lo; v <= hi; v += step) values.add(def.name === "day-of-week" && v === 7 ? 0 : v);
  }
  return { values: [...values].sort((x, y) => x - y), star: text.startsWith("*") };
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Parses a 5-field expression or a macro (@hourly, @daily, @weekly, @monthly, @yearly).
 * Throws CronError with the failing field; 6- and 7-field expressions are refused explicitly.
 */
export function parseCron(expression: string): Cron {
  const source = expression.trim();
  let text = source;
  if (text.startsWith("@")) {
    const macro = MACROS[text.toLowerCase()];
    if (macro === undefined) {
      throw new CronError(
        source,
        `unknown macro "${text}"; use @hourly, @daily, @weekly, @monthly or @yearly (@reboot is not a schedule)`,
      );
    }
    text = macro;
  }
  const parts = text.split(/\s+/).filter((p) => p !== "");
  if (parts.length === 6 || parts.length === 7) {
    throw new CronError(
      source,
      `has ${parts.length} fields; Bunker takes exactly 5 (minute hour day-of-month month day-of-week). ` +
        "Extra fields are ambiguous: Nomad reads a 6th field as the year, croner and Quartz read a leading one " +
        "as seconds; schedules run at most once a minute",
    );
  }
  if (parts.length !== 5) {
    throw new CronError(
      source,
      `has ${parts.length} field${parts.length === 1 ? "" : "s"}; expected 5: minute hour day-of-month month day-of-week`,
    );
  }
  const [minute, hour, dayOfMonth, month, dayOfWeek] = parts.map((p, i) =>
    parseField(p, FIELDS[i] as FieldDef, source),
  );
  const cron: Cron = {
    source,
    minute: minute as CronField,
    hour: hour as CronField,
    dayOfMonth: dayOfMonth as CronField,
    month: month as CronField,
    dayOfWeek: dayOfWeek as CronField,
  };
  // "0 0 30 2 *" parses but never fires; say so now rather than never running.
  const domOnly = cron.dayOfWeek.star && !cron.dayOfMonth.star;
  if (domOnly) {
    const firstDay = cron.dayOfMonth.values[0] ?? 32;
    if (!cron.month.values.some((m) => firstDay <= (DAYS_IN_MONTH[m - 1] ?? 0))) {
      throw new CronError(source, "never matches: no selected month has the selected day of month");
    }
  }
  return cron;
}

/** Vixie cron: when both day fields are restricted a day matches either; otherwise both must match. */
export function matchesDay(cron: Cron, year: number, month: number, day: number): boolean {
  const dom = cron.dayOfMonth.values.includes(day);
  const dow = cron.dayOfWeek.values.includes(new Date(Date.UTC(year, month - 1, day)).getUTCDay());
  return cron.dayOfMonth.star || cron.dayOfWeek.star ? dom && dow : dom || dow;
}

/** `Invalid time zone "X"` (Nomad's wording) unless `zone` is an IANA zone this runtime knows. */
export function checkTimeZone(zone: string): string {
  try {
    return Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(zone).timeZoneId;
  } catch {
    throw new ValidationError(`Invalid time zone "${zone}"`, [
      { path: "", message: `Invalid time zone "${zone}"` },
    ]);
  }
}

/** A wall-clock minute, walked without a zone (Date.UTC is only civil-calendar arithmetic here). */
interface Wall {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
}

function wallOf(ms: number): Wall {
  const t = new Date(ms);
  return {
    y: t.getUTCFullYear(),
    mo: t.getUTCMonth() + 1,
    d: t.getUTCDate(),
    h: t.getUTCHours(),
    mi: t.getUTCMinutes(),
  };
}

const wallMs = (w: Wall) => Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi);

/** Longest search: a Feb 29 schedule can wait 8 years (1896 -> 1904, 2096 -> 2104). */
const MAX_SEARCH_YEARS = 9;

/**
 * The first fire time strictly after `afterMs` (epoch ms), or undefined if none within 9 years.
 * Times that fall in a DST gap are skipped; a repeated wall-clock time fires at its first instant.
 */
export function nextFire(cron: Cron, afterMs: number, timeZone = "UTC"): number | undefined {
  const local = Temporal.Instant.fromEpochMilliseconds(afterMs).toZonedDateTimeISO(timeZone);
  // Start at the wall-clock minute after `afterMs`.
  let w = wallOf(Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute) + 60_000);
  const limit = w.y + MAX_SEARCH_YEARS;
  while (w.y <= limit) {
    if (!cron.month.values.includes(w.mo)) {
      w = wallOf(Date.UTC(w.y, w.mo, 1)); // first day of the next month
      continue;
    }
    if (!matchesDay(cron, w.y, w.mo, w.d)) {
      w = wallOf(Date.UTC(w.y, w.mo - 1, w.d + 1));
      continue;
    }
    if (!cron.hour.values.includes(w.h)) {
      w = wallOf(Date.UTC(w.y, w.mo - 1, w.d, w.h + 1));
      continue;
    }
    const mi = cron.minute.values.find((m) => m >= w.mi);
    if (mi === undefined) {
      w = wallOf(Date.UTC(w.y, w.mo - 1, w.d, w.h + 1));
      continue;
    }
    w = { ...w, mi };
    const at = resolveWall(w, timeZone);
    if (at !== undefined && at > afterMs) return at;
    // In a gap, or the first occurrence of a repeated time already passed: next minute.
    w = wallOf(wallMs(w) + 60_000);
  }
  return undefined;
}

/** The instant of a wall-clock time in the zone: the earlier one when it happens twice, none in a gap. */
function resolveWall(w: Wall, timeZone: string): number | undefined {
  const plain = new Temporal.PlainDateTime(w.y, w.mo, w.d, w.h, w.mi);
  const zoned = plain.toZonedDateTime(timeZone, { disambiguation: "earlier" });
  // In a gap "earlier" shifts the wall clock back by the gap; a round trip that differs means "does not exist".
  if (Temporal.PlainDateTime.compare(zoned.toPlainDateTime(), plain) !== 0) return undefined;
  return zoned.epochMilliseconds;
}

/** The next `n` fire times after `afterMs`. */
export function nextFires(cron: Cron, afterMs: number, n: number, timeZone = "UTC"): number[] {
  const out: number[] = [];
  let t = afterMs;
  while (out.length < n) {
    const next = nextFire(cron, t, timeZone);
    if (next === undefined) break;
    out.push(next);
    t = next;
  }
  return out;
}

/**
 * The latest fire time in (afterMs, untilMs], or undefined. Used for catch-up after downtime and
 * for late ticks. Searches windows ending at untilMs that grow 4x, so a long downtime on a dense
 * schedule costs a few steps rather than one per missed minute.
 */
export function lastFireBetween(
  cron: Cron,
  afterMs: number,
  untilMs: number,
  timeZone = "UTC",
): number | undefined {
  for (let window = 3_600_000; ; window *= 4) {
    const from = Math.max(afterMs, untilMs - window);
    let last: number | undefined;
    for (
      let t = nextFire(cron, from, timeZone);
      t !== undefined && t <= untilMs;
      t = nextFire(cron, t, timeZone)
    ) {
      last = t;
    }
    if (last !== undefined || from === afterMs) return last;
  }
}
