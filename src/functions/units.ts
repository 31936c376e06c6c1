/** Byte sizes: "64KiB", "10MB", "1GiB", or a number of bytes. (Durations: driver/config.ts.) */

export const SIZE_PATTERN = "^\\s*\\d+(\\.\\d+)?\\s*([kKmMgG]([iI]?[bB]?)|[bB])?\\s*$";

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  ki: 1024,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Bytes, or undefined when the value is not a size. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? "").toLowerCase()];
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}
