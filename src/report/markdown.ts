// The Markdown summary printed at the end of a run (and fit for $GITHUB_STEP_SUMMARY): one row per
// step and proxy, and with --baseline a comparison of the clean and the impaired run.
import { stepsFailedByCommand, totalFaults, trafficTotals, type RunReport, type TrafficStats } from "./report.js";
import { renderExperimentMarkdown } from "./markdown-experiment.js";
import { renderClientsMarkdown } from "./markdown-clients.js";
import { shellQuote } from "./shell-quote.js";
import { humanBytes, humanDuration, humanRate } from "./format.js";

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function change(clean: number, impaired: number): string {
  if (clean === 0) return impaired === 0 ? "=" : "new";
  const pct = ((impaired - clean) / clean) * 100;
  return `${pct >= 0 ? "+" : ""}${pct.toFixed(0)}%`;
}

function faultText(t: TrafficStats): string {
  const parts = Object.entries(t.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  return parts.length ? parts.join(", ") : "0";
}

export function renderMarkdown(report: RunReport): string {
  const out: string[] = [];
  out.push(`## netimpair run: ${cell(report.scenario)}`, "");
  if (report.description) out.push(report.description, "");
  const cmd = report.command ? `\`${cell(shellQuote(report.command))}\`` : null;
  if (cmd && report.commandExit) {
    const e = report.commandExit;
    const how = e.stoppedByRunner
      ? `was stopped by the runner (${e.signal ?? `it exited with ${e.code}`})`
      : e.signal
        ? `was killed by ${e.signal}`
        : `exited with **${e.code}**`;
    out.push(`${cmd} ${how} after ${humanDuration(report.commandExit.atMs)} under the scenario; the run's exit code is **${report.exitCode}**.`);
  } else if (cmd) {
    out.push(`${cmd} did not run; the run's exit code is **${report.exitCode}**.`);
  } else {
    out.push(`The scenario played for ${humanDuration(report.durationMs)}; exit code **${report.exitCode}**.`);
  }
  if (report.stopped) out.push("", `**Stopped early:** ${cell(report.stopped)}`);
  out.push("");
  const failed = stepsFailedByCommand(report);
  out.push("| # | at | step | proxy | time | up | down | throughput up | throughput down | connections | faults | result |");
  out.push("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const s of report.steps) {
    const result =
      s.status === "failed" && s.error === undefined && s.sloBreaches ? "slo broken" : s.status === "failed" ? `error: ${s.error ?? "failed"}` : s.status === "not-reached" ? "not reached" : s.stoppedBy !== undefined ? `stopped: ${s.stoppedBy}` : failed.has(s.index) ? "command failed" : s.status === "cut-short" ? "ok (run ended)" : "ok";
    const proxies = Object.keys(s.perProxy);
    const rows = proxies.length > 0 ? proxies : [s.proxies.join(", ")];
    for (const name of rows) {
      const t = s.perProxy[name];
      out.push(
        `| ${s.index + 1} | ${humanDuration(s.at)} | ${cell(s.name)} | ${cell(name)} | ${s.startedAt ? humanDuration(s.durationMs) : "-"} | ${t ? humanBytes(t.bytesUp) : "-"} | ${t ? humanBytes(t.bytesDown) : "-"} | ${t ? humanRate(t.throughputUp) : "-"} | ${t ? humanRate(t.throughputDown) : "-"} | ${t ? t.connections : "-"} | ${t ? faultText(t) : "-"} | ${cell(result)} |`,
      );
    }
  }
  if (report.baseline) {
    const b = report.baseline;
    out.push("", "### Clean vs impaired", "", "| | clean | impaired | change |", "|---|---|---|---|");
    out.push(`| duration | ${humanDuration(b.durationMs)} | ${humanDuration(report.durationMs)} | ${change(b.durationMs, report.durationMs)} |`);
    out.push(`| exit code | ${b.exitCode} | ${report.exitCode} | ${b.exitCode === report.exitCode ? "=" : "changed"} |`);
    for (const [name, i] of trafficTotals(report)) {
      const c = b.perProxy[name];
      if (!c) continue;
      out.push(`| ${cell(name)} throughput up | ${humanRate(c.throughputUp)} | ${humanRate(i.throughputUp)} | ${change(c.throughputUp, i.throughputUp)} |`);
      out.push(`| ${cell(name)} throughput down | ${humanRate(c.throughputDown)} | ${humanRate(i.throughputDown)} | ${change(c.throughputDown, i.throughputDown)} |`);
      out.push(`| ${cell(name)} connections | ${c.connections} | ${i.connections} | ${change(c.connections, i.connections)} |`);
      out.push(`| ${cell(name)} faults | ${totalFaults(c)} | ${totalFaults(i)} | ${change(totalFaults(c), totalFaults(i))} |`);
    }
  }
  out.push(...renderExperimentMarkdown(report));
  out.push(...renderClientsMarkdown(report));
  out.push("");
  return out.join("\n");
}
