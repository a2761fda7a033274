// The figures a run report carries about an experiment: a probe's figures over a window, a
// breach of the slo, what the webhook answered, and the run's verdict. The experiment computes
// them; the report writers (JSON, JUnit, Markdown, HTML, the webhook's text) read them.
export type Verdict = "passed" | "failed" | "aborted";

export const VERDICTS: readonly Verdict[] = ["passed", "failed", "aborted"];

/** A probe's figures over one window (report field `probes.NAME`). */
export interface ProbeStats {
  samples: number;
  successes: number;
  /** successes / samples, 0..1; null without samples */
  availability: number | null;
  /** latency of the successful samples, ms; null without successes */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  failures: Record<string, number>;
  /** ms from the step's end until the first of three successes in a row; null when not measured or never */
  recoveryMs: number | null;
}

export interface SloBreach {
  probe: string;
  what: "availability" | "p95" | "p99" | "recovery";
  /** availability 0..1, else ms */
  limit: number;
  /** null: no figure (a recovery that never came) */
  got: number | null;
  /** "step 2", "run", "steadyState.before", "steadyState.after" */
  where: string;
}

export interface NotifyResult {
  webhook: string;
  verdict: Verdict;
  /** HTTP status, null when no answer */
  status: number | null;
  ok: boolean;
  error: string | null;
}
