// An experiment: how a scenario watches the system under test (probes) and what "survived" means
// (slo, steady state, stop condition), and who hears the verdict (notify). Times are ms,
// availabilities 0..1, as the scenario schema leaves them.
import type { Verdict } from "../report/figures.js";

export interface HttpCheck {
  kind: "http";
  url: string;
  /** GET unless told */
  method: string;
  /** the status a healthy answer has (default 200) */
  status: number;
  /** a substring a healthy answer's body holds */
  body?: string;
}

export interface TcpCheck {
  kind: "tcp";
  host: string;
  port: number;
}

export interface ExecCheck {
  kind: "exec";
  /** run with /bin/sh -c; exit 0 is a success */
  command: string;
}

export type ProbeCheck = HttpCheck | TcpCheck | ExecCheck;

export interface ProbeDef {
  name: string;
  check: ProbeCheck;
  /** ms from one sample's start to the next */
  every: number;
  /** ms a sample may take before it counts as a "timeout" failure */
  timeout: number;
}

/** What a probe must show to hold (every limit optional). */
export interface SloDef {
  /** lowest availability, 0..1 */
  availability?: number;
  /** highest latency percentiles of the successful samples, ms */
  p95?: number;
  p99?: number;
  /** longest recovery after a step that made things better, ms */
  recovery?: number;
}

export interface SteadyStateDef {
  /** ms of probing on a clean network before anything is applied (0 = none) */
  before: number;
  /** ms of probing after everything was reverted (0 = none) */
  after: number;
}

export interface AbortWhen {
  probe: string;
  /** 0..1 */
  availabilityBelow: number;
  /** ms of the sliding window */
  over: number;
}

export interface NotifyDef {
  webhook: string;
  on: Verdict[];
}

export interface Experiment {
  probes: ProbeDef[];
  /** by probe name */
  slo: Record<string, SloDef>;
  steadyState: SteadyStateDef | null;
  abortWhen: AbortWhen | null;
  notify: NotifyDef | null;
}

/** One sample of a probe. Times are performance.now() ms. */
export interface Sample {
  start: number;
  end: number;
  ok: boolean;
  /** end - start */
  ms: number;
  /** why it failed: "timeout", "refused", "reset", "status 503", "exit 1", ... */
  cause?: string;
}


