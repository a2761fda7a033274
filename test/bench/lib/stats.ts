// Small statistics for benchmark samples.

/** The q-quantile (0..1) of samples, by nearest rank on a sorted copy. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function median(samples: readonly number[]): number {
  return quantile(samples, 0.5);
}

export function mean(samples: readonly number[]): number {
  if (samples.length === 0) return NaN;
  let s = 0;
  for (const x of samples) s += x;
  return s / samples.length;
}

export function stdev(samples: readonly number[]): number {
  if (samples.length < 2) return NaN;
  const m = mean(samples);
  let s = 0;
  for (const x of samples) s += (x - m) ** 2;
  return Math.sqrt(s / (samples.length - 1));
}

/** Relative error of measured against configured, in percent (signed). */
export function errorPct(configured: number, measured: number): number {
  return ((measured - configured) / configured) * 100;
}

/** Rounds to `digits` decimals (for tables and JSON). */
export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
