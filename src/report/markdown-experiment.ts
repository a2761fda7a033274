// The experiment's part of the Markdown summary: the verdict, the slo's breaches and one row per
// window (steady state before, each step, the run, steady state after) and probe.
import type { RunReport } from "./report.js";
import { humanDuration } from "./format.js";
import { breachText, failuresText, ms, pct } from "./format.js";
import type { ProbeStats } from "./figures.js";

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function renderExperimentMarkdown(report: RunReport): string[] {
  if (!report.slo) return [];
  const out: string[] = ["", "### Probes and SLO", ""];
  if (report.aborted) out.push(`**Aborted** after ${humanDuration(report.aborted.atMs)}: ${cell(report.aborted.reason)}; everything was reverted and the command stopped.`, "");
  if (report.slo.held) out.push("**SLO held.**");
  else {
    out.push(`**SLO broken** (${report.slo.breaches.length}):`, "");
    for (const b of report.slo.breaches) out.push(`- ${cell(breachText(b))}`);
  }
  out.push("", "| window | probe | samples | ok | availability | p50 | p95 | p99 | max | failures | recovery | slo |", "|---|---|---|---|---|---|---|---|---|---|---|---|");
  const row = (window: string, where: string, probes: Record<string, ProbeStats> | null | undefined): void => {
    for (const [name, s] of Object.entries(probes ?? {})) {
      if (where === "run" && s.samples === 0) continue;
      const broken = report.slo!.breaches.filter((b) => b.where === where && b.probe === name).map((b) => b.what);
      out.push(
        `| ${cell(window)} | ${cell(name)} | ${s.samples} | ${s.successes} | ${pct(s.availability)} | ${ms(s.p50Ms)} | ${ms(s.p95Ms)} | ${ms(s.p99Ms)} | ${ms(s.maxMs)} | ${cell(failuresText(s.failures))} | ${ms(s.recoveryMs)} | ${broken.length ? `broken: ${broken.join(", ")}` : "ok"} |`,
      );
    }
  };
  row("steady state before", "steadyState.before", report.steadyState?.before);
  for (const s of report.steps) if (s.startedAt !== null) row(`${s.index + 1} ${s.name}`, `step ${s.index + 1}`, s.probes);
  row("run", "run", report.totals.probes);
  row("steady state after", "steadyState.after", report.steadyState?.after);
  return out;
}
