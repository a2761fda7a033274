// The experiment's part of the JUnit report: a step that broke the slo fails with its figures,
// and the run-wide checks (steady state, the slo over the run, the stop condition) are a test case.
import { escapeXml } from "./xml.js";
import type { RunReport, StepReport } from "./report.js";
import { breachText, statsText } from "./format.js";

/** Whether a step broke the slo, the message of its <failure>, and its probes' figures ("" without probes). */
export function stepSloLines(s: StepReport): { failed: boolean; message: string; figures: string } {
  const figures = Object.entries(s.probes ?? {}).map(([name, st]) => statsText(name, st)).join("\n");
  if (!s.sloBreaches || s.sloBreaches.length === 0) return { failed: false, message: "", figures };
  return { failed: true, message: `slo broken: ${s.sloBreaches.map((b) => breachText(b, false)).join("; ")}`, figures };
}

/** One more test case for the run as a whole: "experiment: slo over the run". */
export function experimentCase(report: RunReport, seconds: (ms: number) => string): { xml: string; failed: boolean } | null {
  if (!report.slo) return null;
  const name = "experiment: steady state, slo over the run, stop condition";
  const open = `    <testcase classname="netimpair.${escapeXml(report.scenario)}" name="${escapeXml(name)}" time="${seconds(report.durationMs)}">`;
  const runWide = report.slo.breaches.filter((b) => !b.where.startsWith("step "));
  const problems = [...(report.aborted ? [`aborted at ${Math.round(report.aborted.atMs)} ms: ${report.aborted.reason}`] : []), ...runWide.map((b) => breachText(b))];
  const figures = Object.entries(report.totals.probes ?? {}).map(([n, st]) => statsText(n, st)).join("\n");
  const body = problems.length > 0 ? [`      <failure message="${escapeXml(problems.join("; "))}" type="${report.aborted ? "Aborted" : "SloBreach"}">${escapeXml(figures)}</failure>`] : [];
  if (figures !== "") body.push(`      <system-out>${escapeXml(figures)}</system-out>`);
  return { xml: [open, ...body, "    </testcase>"].join("\n"), failed: problems.length > 0 };
}
