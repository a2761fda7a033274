// Probe figures and slo breaches as short text, shared by the Markdown summary, JUnit, the
// progress line, the webhook and the HTML report.
import type { ProbeStats, SloBreach } from "./figures.js";
import { formatBitRate, formatBytes } from "../units.js";

export function pct(share: number | null): string {
  return share === null ? "-" : `${Number((share * 100).toFixed(1))}%`;
}

export function ms(v: number | null): string {
  if (v === null) return "-";
  if (v < 1000) return `${Math.round(v)}ms`;
  return `${Number((v / 1000).toFixed(v < 10_000 ? 2 : 1))}s`;
}

export function failuresText(f: Record<string, number>): string {
  const parts = Object.entries(f).sort((a, b) => b[1] - a[1]).map(([cause, n]) => `${cause} ${n}`);
  return parts.length ? parts.join(", ") : "none";
}

/** "api: 18/20 ok (90.0%), p50 3ms p95 12ms p99 15ms max 15ms, failures timeout 2, recovery 1.20s" */
export function statsText(probe: string, s: ProbeStats): string {
  const parts = [`${probe}: ${s.successes}/${s.samples} ok (${pct(s.availability)})`, `p50 ${ms(s.p50Ms)} p95 ${ms(s.p95Ms)} p99 ${ms(s.p99Ms)} max ${ms(s.maxMs)}`, `failures ${failuresText(s.failures)}`];
  if (s.recoveryMs !== null) parts.push(`recovery ${ms(s.recoveryMs)}`);
  return parts.join(", ");
}

/** "api availability 42.0% < 99% (step 2)" */
export function breachText(b: SloBreach, withWhere = true): string {
  const where = withWhere ? ` (${b.where})` : "";
  if (b.what === "availability") return `${b.probe} availability ${pct(b.got)} < ${pct(b.limit)}${where}`;
  if (b.what === "recovery") return b.got === null ? `${b.probe} did not recover (3 successes in a row) within the run, limit ${ms(b.limit)}${where}` : `${b.probe} recovery ${ms(b.got)} > ${ms(b.limit)}${where}`;
  return `${b.probe} ${b.what} ${ms(b.got)} > ${ms(b.limit)}${where}`;
}

/** Bytes for people, as the CLI prints them: 950B, 12.3kB, 4.5MB (units.ts formatBytes). */
export function humanBytes(n: number): string {
  return formatBytes(n);
}

/** A rate measured in bytes a second, printed in bits a second as everywhere: 1500 -> "12kbps". */
export function humanRate(bytesPerSecond: number): string {
  return formatBitRate(bytesPerSecond * 8);
}

/** ms for people: 850ms, 12.3s, 2m05s. */
export function humanDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${String(s).padStart(2, "0")}s`;
}
