/** Numbers and times as the dashboard prints them. */

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (v >= 100) return `${Math.round(v)} ms`;
  return `${v.toFixed(1)} ms`;
}

/** A count; "—" where there is no data. */
export function count(v: number | null): string {
  return v === null ? "—" : String(v);
}

/** A time range's ends in epoch seconds: the x-axis bounds of a chart. */
export function epochRange(r: { since: Date; until: Date }): [number, number] {
  return [r.since.getTime() / 1000, r.until.getTime() / 1000];
}

export function pct(part: number, whole: number): string {
  if (whole <= 0) return "—";
  return `${((part / whole) * 100).toFixed(1)} %`;
}

export function bytes(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  if (v >= 1 << 30) return `${(v / (1 << 30)).toFixed(1)} GiB`;
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(1)} KiB`;
  return `${v} B`;
}

/** An ISO time as "YYYY-MM-DD HH:MM:SS" UTC (stable, sortable, no locale surprises). */
export function when(iso: string | Date | null | undefined): string {
  if (iso === null || iso === undefined) return "—";
  const d = typeof iso === "string" ? new Date(iso) : iso;
  if (Number.isNaN(d.getTime())) return "—";
  return `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A time in a named zone, for schedules. */
export function inZone(iso: string, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat("en-GB", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      timeZoneName: "short",
    }).format(new Date(iso));
  } catch {
    return when(iso);
  }
}

export const RANGES = {
  "1h": { sec: 3600, bucket: 60 },
  "24h": { sec: 86_400, bucket: 900 },
  "7d": { sec: 604_800, bucket: 7200 },
} as const;
export type RangeName = keyof typeof RANGES;

export function rangeOf(name: string | undefined): {
  name: RangeName;
  since: Date;
  until: Date;
  bucket: number;
} {
  const key: RangeName = name === "24h" || name === "7d" ? name : "1h";
  const r = RANGES[key];
  const until = new Date(Date.now() + 1000);
  return { name: key, since: new Date(until.getTime() - r.sec * 1000), until, bucket: r.bucket };
}
