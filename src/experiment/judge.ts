// The experiment's verdict on a run: per step and over the run, per probe, the figures and the slo's
// breaches; the steady-state windows; and whether it passed, failed or was aborted. It fills the
// run report's experiment fields (SPEC "Experiments that judge themselves").
import type { RunReport, StepReport } from "../report/report.js";
import { checkSlo } from "./slo.js";
import { recoveryAfter, samplesIn, summarize } from "./stats.js";
import type { ProbeStats, SloBreach, Verdict } from "../report/figures.js";
import type { ExperimentWatch, WindowResult } from "./watch.js";

export interface StepWindow {
  /** ms from the run's start; null when the step never started */
  start: number | null;
  /** ms from the run's start (its actual end, or the run's end when cut short) */
  end: number | null;
  /** the step ended by itself and made things better: its recovery is measured */
  better: boolean;
}

export interface JudgeInput {
  steps: StepWindow[];
  /** ms from the run's start to its end; 0 when the run never started */
  endMs: number;
  before: WindowResult | null;
  after: WindowResult | null;
  aborted: { reason: string; atMs: number } | null;
}

export interface ExperimentFields {
  steadyState: { before: Record<string, ProbeStats> | null; after: Record<string, ProbeStats> | null };
  slo: { held: boolean; breaches: SloBreach[] };
  aborted: { reason: string; atMs: number } | null;
}


/** Fills `report` (steps' probes and sloBreaches, totals.probes, steadyState, slo, aborted) and its exit code. */
export function judgeRun(report: RunReport, watch: ExperimentWatch, input: JudgeInput): void {
  const exp = watch.experiment;
  const origin = watch.originMs;
  const started = origin > 0;
  const breaches: SloBreach[] = [...(input.before?.breaches ?? [])];
  const worstRecovery = new Map<string, { measured: boolean; ms: number | null }>();

  report.steps.forEach((step: StepReport, i) => {
    const w = input.steps[i]!;
    const probes: Record<string, ProbeStats> = {};
    const stepBreaches: SloBreach[] = [];
    for (const loop of watch.loops) {
      const name = loop.def.name;
      // a sample that spans a step's edge belongs to neither step (it counts for the run)
      const inStep = started && w.start !== null && w.end !== null ? samplesIn(loop.samples, origin + w.start, origin + w.end).filter((x) => x.end <= origin + w.end!) : [];
      // recovery from what: the step made things better when it ended, and the probe failed during it
      const measured = started && w.better && w.end !== null && inStep.some((x) => !x.ok);
      const recovery = measured ? recoveryAfter(loop.samples, origin + w.end!) : null;
      const stats = summarize(inStep, recovery);
      probes[name] = stats;
      if (measured) {
        const worst = worstRecovery.get(name) ?? { measured: true, ms: 0 };
        worstRecovery.set(name, { measured: true, ms: worst.ms === null || stats.recoveryMs === null ? null : Math.max(worst.ms, stats.recoveryMs) });
      }
      const slo = exp.slo[name];
      if (slo && w.start !== null) stepBreaches.push(...checkSlo(name, slo, stats, `step ${i + 1}`, { recoveryMeasured: measured }));
    }
    step.probes = probes;
    if (stepBreaches.length > 0) {
      step.sloBreaches = stepBreaches;
      step.status = "failed";
      breaches.push(...stepBreaches);
    }
  });

  const totals: Record<string, ProbeStats> = {};
  for (const loop of watch.loops) {
    const name = loop.def.name;
    const all = started ? samplesIn(loop.samples, origin, origin + input.endMs) : [];
    const rec = worstRecovery.get(name);
    const stats = summarize(all, rec?.ms ?? null);
    totals[name] = stats;
    const slo = exp.slo[name];
    if (slo && started) {
      // a step's recovery breach is already the step's; over the run only the levels are judged again
      breaches.push(...checkSlo(name, slo, stats, "run", { recoveryMeasured: false }));
    }
  }
  (report.totals as Record<string, unknown>).probes = totals;
  breaches.push(...(input.after?.breaches ?? []));

  report.steadyState = { before: input.before?.stats ?? null, after: input.after?.stats ?? null };
  report.slo = { held: breaches.length === 0, breaches };
  report.aborted = input.aborted;
  if (report.exitCode === 0 && (breaches.length > 0 || input.aborted)) report.exitCode = 1;
}
