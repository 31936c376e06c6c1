/**
 * Latency statistics for the benchmarks: percentiles by linear interpolation
 * between closest ranks (NumPy's default, so numbers can be checked with it),
 * and a summary per series that bench/results/*.json keep.
 */

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Sample standard deviation (n - 1). */
  stddev: number;
}

/** The q-quantile (0..1) of already sorted values. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (q <= 0) return sorted[0]!;
  if (q >= 1) return sorted[sorted.length - 1]!;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function quantile(values: readonly number[], q: number): number {
  return quantileSorted(
    [...values].sort((a, b) => a - b),
    q,
  );
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n === 0 ? Number.NaN : sorted.reduce((s, v) => s + v, 0) / n;
  const variance = n < 2 ? 0 : sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
  return {
    count: n,
    min: sorted[0] ?? Number.NaN,
    mean,
    p50: quantileSorted(sorted, 0.5),
    p95: quantileSorted(sorted, 0.95),
    p99: quantileSorted(sorted, 0.99),
    max: sorted[n - 1] ?? Number.NaN,
    stddev: Math.sqrt(variance),
  };
}

/** Rounds every number of a summary for JSON that diffs cleanly. */
export function rounded<T extends Record<string, number>>(s: T, digits = 3): T {
  const f = 10 ** digits;
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Math.round(v * f) / f])) as T;
}
