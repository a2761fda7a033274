// The run report (JSON): per step and proxy, the time span, bytes each way, throughput,
// connections and faults, measured from the agents' counters at each step's start and end.
import { FAULT_KINDS, type FaultKind, type ProxyInfo } from "../control/protocol.js";
import type { NotifyResult, ProbeStats, SloBreach, Verdict } from "./figures.js";
import type { ClientStats, ExpectationResult } from "./clients.js";

/** Traffic through one proxy (summed over the agents that have it) during a window. */
export interface TrafficStats {
  bytesUp: number;
  bytesDown: number;
  /** bytes per second over the window */
  throughputUp: number;
  throughputDown: number;
  /** connections opened */
  connections: number;
  faults: Record<FaultKind, number>;
}

/** Counters of every proxy at one moment (summed over agents), by proxy name. */
export type CounterSnapshot = Record<string, { bytesUp: number; bytesDown: number; connectionsTotal: number; faults: Record<FaultKind, number> }>;

export type StepStatus = "done" | "cut-short" | "not-reached" | "failed";

export interface StepReport {
  index: number;
  name: string;
  /** planned offset, ms */
  at: number;
  for: number | null;
  action: string;
  proxies: string[];
  /** ISO times; null when the step never started */
  startedAt: string | null;
  endedAt: string | null;
  /** how late the step started, ms (null when it never started) */
  lateMs: number | null;
  durationMs: number;
  /** done; cut-short = the run ended during it; not-reached; failed = an action of it failed */
  status: StepStatus;
  /** why an action of the step failed (status failed) */
  error?: string;
  /**
   * why the run stopped while this step was in progress, when it was not the step's own failure:
   * "interrupted by SIGINT", a lost agent, a clear from outside, the stop condition
   */
  stoppedBy?: string;
  perProxy: Record<string, TrafficStats>;
  /** with probes: each probe's figures during the step */
  probes?: Record<string, ProbeStats>;
  /** the slo limits the step broke (its status is then failed) */
  sloBreaches?: SloBreach[];
}

/** Traffic over the whole run by proxy; with probes also `probes`, each probe's figures over the run. */
export type RunTotals = Record<string, TrafficStats> & { probes?: Record<string, ProbeStats> };

/** A whole phase: the clean baseline run, or the impaired run's totals. */
export interface PhaseReport {
  startedAt: string;
  exitCode: number;
  durationMs: number;
  perProxy: Record<string, TrafficStats>;
}

export interface RunReport {
  scenario: string;
  description: string;
  startedAt: string;
  exitCode: number;
  durationMs: number;
  /** the command run under the scenario, or null */
  command: string[] | null;
  /**
   * the command's exit: ms from the run's start, its code (128+n for a signal); stoppedByRunner
   * is true when the runner ended it (a failed step, a lost agent, Ctrl-C, a panic, the stop
   * condition): then its exit is no failure of the command
   */
  commandExit: { atMs: number; code: number; signal: string | null; stoppedByRunner: boolean } | null;
  agents: { name: string; url: string }[];
  /** why the run stopped early (a failed step, a lost agent, Ctrl-C, a panic), or null */
  stopped: string | null;
  steps: StepReport[];
  /** the whole impaired run */
  totals: RunTotals;
  /** the clean run with --baseline, else null */
  baseline: PhaseReport | null;
  /** with probes: their figures before anything was applied and after everything was reverted */
  steadyState?: { before: Record<string, ProbeStats> | null; after: Record<string, ProbeStats> | null };
  /** with probes: whether the slo held, and every limit broken (per step, over the run, in the steady states) */
  slo?: { held: boolean; breaches: SloBreach[] };
  /** with probes: why and when the stop condition stopped the run, else null */
  aborted?: { reason: string; atMs: number } | null;
  /** with expect: each watched proxy's clients (retries, spacing, amplification, timeouts, breaker) */
  clients?: Record<string, ClientStats>;
  /** with expect: each limit's verdict; a broken one fails the run */
  expectations?: ExpectationResult[];
  /** with notify: what the webhook answered */
  notified?: NotifyResult | null;
}

/** The traffic totals by proxy (without the probes' figures). */
export function trafficTotals(report: RunReport): [string, TrafficStats][] {
  return Object.entries(report.totals).filter(([name]) => !(name === "probes" && report.slo !== undefined)) as [string, TrafficStats][];
}

export function zeroFaults(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
}

/** Adds a list of proxies (one agent's proxy.list) into a snapshot; `only` limits the names. */
export function addToSnapshot(snap: CounterSnapshot, proxies: readonly ProxyInfo[], only?: ReadonlySet<string>): CounterSnapshot {
  for (const p of proxies) {
    if (only && !only.has(p.name)) continue;
    const s = (snap[p.name] ??= { bytesUp: 0, bytesDown: 0, connectionsTotal: 0, faults: zeroFaults() });
    s.bytesUp += p.stats.bytesUp;
    s.bytesDown += p.stats.bytesDown;
    s.connectionsTotal += p.stats.connectionsTotal;
    for (const k of FAULT_KINDS) s.faults[k] += p.stats.faults[k] ?? 0;
  }
  return snap;
}

/** Traffic between two snapshots over `ms` (counters that went backwards, e.g. a recreated proxy, count from 0). */
export function trafficBetween(before: CounterSnapshot, after: CounterSnapshot, ms: number, names: readonly string[]): Record<string, TrafficStats> {
  const out: Record<string, TrafficStats> = {};
  const seconds = ms / 1000;
  for (const name of names) {
    const a = before[name];
    const b = after[name];
    if (!b) continue;
    const delta = (x: number, y: number | undefined): number => (y === undefined || x < y ? x : x - y);
    const bytesUp = delta(b.bytesUp, a?.bytesUp);
    const bytesDown = delta(b.bytesDown, a?.bytesDown);
    const faults = zeroFaults();
    for (const k of FAULT_KINDS) faults[k] = delta(b.faults[k], a?.faults[k]);
    out[name] = {
      bytesUp,
      bytesDown,
      throughputUp: seconds > 0 ? Math.round(bytesUp / seconds) : 0,
      throughputDown: seconds > 0 ? Math.round(bytesDown / seconds) : 0,
      connections: delta(b.connectionsTotal, a?.connectionsTotal),
      faults,
    };
  }
  return out;
}

export function totalFaults(t: TrafficStats): number {
  return FAULT_KINDS.reduce((n, k) => n + t.faults[k], 0);
}

/** The steps during which the command failed (its exit falls in their span); none when the runner stopped it. */
export function stepsFailedByCommand(report: RunReport): Set<number> {
  const failed = new Set<number>();
  const exit = report.commandExit;
  if (!exit || exit.code === 0 || exit.stoppedByRunner === true) return failed;
  const runStart = Date.parse(report.startedAt);
  for (const s of report.steps) {
    if (s.startedAt === null || s.endedAt === null) continue;
    const start = Date.parse(s.startedAt) - runStart;
    const end = Date.parse(s.endedAt) - runStart;
    if (exit.atMs >= start && exit.atMs <= end + 1) failed.add(s.index);
  }
  return failed;
}

/** passed, failed or aborted, as the run ended. */
export function verdictOf(report: RunReport): Verdict {
  if (report.aborted) return "aborted";
  return report.exitCode === 0 ? "passed" : "failed";
}
