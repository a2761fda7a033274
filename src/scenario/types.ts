// A validated scenario: the timeline `netimpair run` plays. Times are canonical milliseconds
// from the start of the run; probabilities, bandwidths and sizes stay as the profile layer reads them.
import type { SetOverrides } from "../control/protocol.js";
import type { Experiment } from "../experiment/types.js";
import type { ClientExpectation } from "../experiment/client-types.js";

/** One sample of a recorded link trace (a row of the CSV), canonical units. */
export interface TraceRow {
  /** ms from the start of the trace step */
  time: number;
  /** bits per second; null = unlimited; undefined = the column is absent */
  up?: number | null;
  down?: number | null;
  /** one-way delay of each direction, ms (from a `delay` or half an `rtt` column) */
  delay?: number;
  /** loss probability 0..1 of each direction */
  loss?: number;
  /** 1-based line in the CSV file, for error messages */
  line: number;
}

export interface ApplyAction {
  kind: "apply";
  /** a profile name on the agent, or undefined with `spec` */
  profile?: string;
  /** an inline profile (fields as in a profile file) */
  spec?: Record<string, unknown>;
  set?: SetOverrides;
  /** 0..100 */
  percent?: number;
  clients?: string[];
}

export interface ClearAction {
  kind: "clear";
}

export interface RampAction {
  kind: "ramp";
  /** profile names, resolved on the agent (profile.get) */
  from: string;
  to: string;
  /** ms the ramp takes */
  over: number;
  /** ms between re-applies (at most 1000) */
  every: number;
}

export interface TraceAction {
  kind: "trace";
  /** the CSV file as written in the scenario (resolved against the scenario's folder) */
  file: string;
  /** filled by the loader; [] until then */
  rows: TraceRow[];
}

export type StepAction = ApplyAction | ClearAction | RampAction | TraceAction;

/** One step of the flattened timeline (a `repeat` block has been expanded). */
export interface ScenarioStep {
  /** 0-based position in `Scenario.steps` (sorted by `at`, file order for ties) */
  index: number;
  /** the user's `name`, else a description of the action */
  name: string;
  /** ms from the run's start */
  at: number;
  /** ms after which the proxies return to what the previous steps left; null = until replaced */
  for: number | null;
  /** proxy names ("*" = every proxy of every agent) */
  proxies: string[];
  action: StepAction;
  /** where the step is in the file, e.g. "steps.2" or "steps.1.repeat.steps.0" */
  path: string;
  /** iteration of the enclosing repeat blocks (0-based), [] when not repeated */
  iteration: number[];
}

export interface Scenario {
  name: string;
  description: string;
  /** agent URLs used when the command line names none */
  agents: string[];
  /** default targets of each step */
  proxies: string[];
  steps: ScenarioStep[];
  /** probes, slo, steady state, stop condition, notify; null when the scenario has none */
  experiment: Experiment | null;
  /** verdicts on the client: what each proxy's clients must keep ([] when none) */
  expect: ClientExpectation[];
}

/** Most steps a scenario may expand to (repeat blocks included). */
export const MAX_STEPS = 10_000;
/** Most rows a trace file may have. */
export const MAX_TRACE_ROWS = 100_000;
/** A ramp is re-applied at least this often. */
export const MAX_RAMP_INTERVAL_MS = 1000;
