// The slo's verdict on a probe's figures over one window: one breach per limit not met.
import type { SloDef } from "./types.js";
import type { ProbeStats, SloBreach } from "../report/figures.js";

export interface SloCheck {
  /** the recovery was measured in this window (a step that made things better) */
  recoveryMeasured?: boolean;
  /** check availability and latency (false: recovery only) */
  levels?: boolean;
}

export function checkSlo(probe: string, slo: SloDef, stats: ProbeStats, where: string, opts: SloCheck = {}): SloBreach[] {
  const out: SloBreach[] = [];
  if (opts.levels !== false && stats.samples > 0) {
    if (slo.availability !== undefined && stats.availability !== null && stats.availability < slo.availability) {
      out.push({ probe, what: "availability", limit: slo.availability, got: stats.availability, where });
    }
    for (const what of ["p95", "p99"] as const) {
      const limit = slo[what];
      const got = what === "p95" ? stats.p95Ms : stats.p99Ms;
      if (limit !== undefined && got !== null && got > limit) out.push({ probe, what, limit, got, where });
    }
  }
  if (opts.recoveryMeasured && slo.recovery !== undefined && (stats.recoveryMs === null || stats.recoveryMs > slo.recovery)) {
    out.push({ probe, what: "recovery", limit: slo.recovery, got: stats.recoveryMs, where });
  }
  return out;
}

/** A probe is steady when it meets its slo's levels (availability, p95, p99), or without those never fails. */
export function checkSteady(probe: string, slo: SloDef | undefined, stats: ProbeStats, where: string): SloBreach[] {
  if (stats.samples === 0) return [{ probe, what: "availability", limit: slo?.availability ?? 1, got: null, where }];
  if (slo && (slo.availability !== undefined || slo.p95 !== undefined || slo.p99 !== undefined)) return checkSlo(probe, slo, stats, where);
  return stats.availability !== null && stats.availability < 1 ? [{ probe, what: "availability", limit: 1, got: stats.availability, where }] : [];
}
