// A probe's samples over a window -> its figures: samples, successes, availability, latency
// percentiles of the successes (nearest rank), failures by cause; and the recovery after a moment.
import type { Sample } from "./types.js";
import type { ProbeStats } from "../report/figures.js";

/** Successes in a row that count as recovered; the first of them is the moment of recovery. */
export const RECOVERED_AFTER = 3;

/** Nearest-rank percentile of ascending values (q in 0..1); null when there are none. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

function round(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 10) / 10;
}

/** Samples that started in [from, to). */
export function samplesIn(samples: readonly Sample[], from: number, to: number): Sample[] {
  return samples.filter((s) => s.start >= from && s.start < to);
}

export function summarize(samples: readonly Sample[], recoveryMs: number | null = null): ProbeStats {
  const latencies = samples.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b);
  const failures: Record<string, number> = {};
  for (const s of samples) if (!s.ok) failures[s.cause ?? "error"] = (failures[s.cause ?? "error"] ?? 0) + 1;
  return {
    samples: samples.length,
    successes: latencies.length,
    availability: samples.length === 0 ? null : Math.round((latencies.length / samples.length) * 10_000) / 10_000,
    p50Ms: round(percentile(latencies, 0.5)),
    p95Ms: round(percentile(latencies, 0.95)),
    p99Ms: round(percentile(latencies, 0.99)),
    maxMs: round(latencies.at(-1) ?? null),
    failures,
    recoveryMs: recoveryMs === null ? null : Math.round(recoveryMs),
  };
}

/**
 * ms from `at` until the first of RECOVERED_AFTER successes in a row among the samples that
 * started at or after `at` (in start order; the moment is that sample's end); null if none yet.
 */
export function recoveryAfter(samples: readonly Sample[], at: number): number | null {
  const after = samples.filter((s) => s.start >= at).sort((a, b) => a.start - b.start);
  let run = 0;
  for (let i = 0; i < after.length; i++) {
    run = after[i]!.ok ? run + 1 : 0;
    if (run === RECOVERED_AFTER) return Math.max(0, after[i - RECOVERED_AFTER + 1]!.end - at);
  }
  return null;
}

/** Availability of the samples that ended in (from, to]; null without any. */
export function availabilityEndingIn(samples: readonly Sample[], from: number, to: number): { availability: number | null; samples: number } {
  let n = 0;
  let ok = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i]!;
    if (s.end <= from) break; // samples are pushed in end order
    if (s.end > to) continue;
    n++;
    if (s.ok) ok++;
  }
  return { availability: n === 0 ? null : ok / n, samples: n };
}
