/** Order statistics for benchmark samples. */

/**
 * The p-th percentile (0–100) of an ascending array, by nearest rank: the smallest sample
 * with at least p % of the samples at or below it (so p99 of 100 samples is the 99th, and
 * p100 the largest). NaN when empty. The array is not sorted here: sort it once, ask often.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

/** The median of any array (not modified; NaN and ±Infinity left out); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** A copy sorted ascending, ready for `percentile`. */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}
