// `netimpair run --html FILE`: one self-contained HTML report that opens with no network. The
// chart library (uPlot, ~50 KB, MIT) is inlined from node_modules when the report is written; the
// run's figures are embedded as JSON; the tables are plain HTML, so they read even without script.
// Charts: the timeline (step bands, fault marks, the abort), probe latency, probe availability
// over time, throughput per proxy.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { RunReport } from "./report.js";
import { trafficTotals } from "./report.js";
import { humanBytes, humanDuration, humanRate } from "./format.js";
import { verdictOf } from "./report.js";
import { breachText, failuresText, ms, pct } from "./format.js";
import type { RunSeries } from "./series.js";
import type { ProbeStats } from "./figures.js";
import { HTML_CLIENT_SCRIPT, HTML_STYLE } from "./html-client.js";
import { shellQuote } from "./shell-quote.js";
import { CLIENT_HTML_STYLE, clientsHtml } from "./html-clients.js";

const require = createRequire(import.meta.url);

let chartLibrary: Promise<{ js: string; css: string }> | null = null;

/** uPlot's script and style, read once from the installed package. */
export function loadChartLibrary(): Promise<{ js: string; css: string }> {
  chartLibrary ??= Promise.all([readFile(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8"), readFile(require.resolve("uplot/dist/uPlot.min.css"), "utf8")]).then(([js, css]) => ({ js, css }));
  return chartLibrary;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${({ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "#39" } as Record<string, string>)[c]};`);
}

/** Text that may sit inside a <script> element. */
function scriptSafe(text: string): string {
  return text.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

/** JSON that may sit inside a <script type="application/json"> element. */
function jsonSafe(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** What the page's script draws (ms from the run's start). */
export interface ChartData {
  durationMs: number;
  steps: { index: number; name: string; start: number; end: number; status: string }[];
  samples: RunSeries["samples"];
  every: Record<string, number>;
  throughput: RunSeries["throughput"];
  faults: RunSeries["faults"];
  abortedAtMs: number | null;
  steadyBefore: { from: number; to: number } | null;
}

function chartData(report: RunReport, series: RunSeries): ChartData {
  const runStart = Date.parse(report.startedAt);
  const steps = report.steps.flatMap((s) => (s.startedAt === null ? [] : [{ index: s.index, name: s.name, start: Date.parse(s.startedAt) - runStart, end: s.endedAt === null ? report.durationMs : Date.parse(s.endedAt) - runStart, status: s.status }]));
  const before = Object.values(series.samples).flat().filter((s) => s.atMs < 0);
  const every: Record<string, number> = {};
  for (const [name, list] of Object.entries(series.samples)) {
    const gaps = list.slice(1).map((s, i) => s.atMs - list[i]!.atMs).sort((a, b) => a - b);
    every[name] = gaps.length ? gaps[Math.floor(gaps.length / 2)]! : 1000;
  }
  return {
    durationMs: report.durationMs,
    steps,
    samples: series.samples,
    every,
    throughput: series.throughput,
    faults: series.faults,
    abortedAtMs: report.aborted?.atMs ?? null,
    steadyBefore: before.length ? { from: Math.min(...before.map((s) => s.atMs)), to: 0 } : null,
  };
}

function table(head: string[], rows: string[][], cls = ""): string {
  return `<table${cls ? ` class="${cls}"` : ""}><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}

function stepsTable(report: RunReport): string {
  const rows = report.steps.map((s) => {
    const traffic = Object.entries(s.perProxy)
      .map(([p, t]) => `${escapeHtml(p)}: ${humanBytes(t.bytesUp)} up, ${humanBytes(t.bytesDown)} down, ${t.connections} conn`)
      .join("<br>");
    const result = s.sloBreaches?.length ? `slo broken: ${s.sloBreaches.map((b) => escapeHtml(breachText(b, false))).join("; ")}` : s.error ? `error: ${escapeHtml(s.error)}` : escapeHtml(s.status);
    return [String(s.index + 1), humanDuration(s.at), `<span class="step-name">${escapeHtml(s.name)}</span>`, escapeHtml(s.action), escapeHtml(s.proxies.join(", ")), s.startedAt ? humanDuration(s.durationMs) : "-", traffic || "-", `<span class="status ${escapeHtml(s.status)}">${result}</span>`];
  });
  return table(["#", "at", "step", "action", "proxies", "time", "traffic", "result"], rows);
}

function probesTable(report: RunReport): string {
  if (!report.slo) return "";
  const rows: string[][] = [];
  const add = (window: string, where: string, probes: Record<string, ProbeStats> | null | undefined): void => {
    for (const [name, s] of Object.entries(probes ?? {})) {
      if (where === "run" && s.samples === 0) continue;
      const broken = report.slo!.breaches.filter((b) => b.where === where && b.probe === name).map((b) => b.what);
      rows.push([escapeHtml(window), escapeHtml(name), String(s.samples), String(s.successes), pct(s.availability), ms(s.p50Ms), ms(s.p95Ms), ms(s.p99Ms), ms(s.maxMs), escapeHtml(failuresText(s.failures)), ms(s.recoveryMs), broken.length ? `<span class="status failed">broken: ${escapeHtml(broken.join(", "))}</span>` : "ok"]);
    }
  };
  add("steady state before", "steadyState.before", report.steadyState?.before);
  for (const s of report.steps) if (s.startedAt !== null) add(`${s.index + 1} ${s.name}`, `step ${s.index + 1}`, s.probes);
  add("run", "run", report.totals.probes);
  add("steady state after", "steadyState.after", report.steadyState?.after);
  return `<section><h2>Probes</h2>${table(["window", "probe", "samples", "ok", "availability", "p50", "p95", "p99", "max", "failures", "recovery", "slo"], rows)}</section>`;
}

function sloSection(report: RunReport): string {
  if (!report.slo) return "";
  const items = report.slo.breaches.map((b) => `<li>${escapeHtml(breachText(b))}</li>`).join("");
  const aborted = report.aborted ? `<p class="status aborted">Aborted after ${humanDuration(report.aborted.atMs)}: ${escapeHtml(report.aborted.reason)}</p>` : "";
  return `<section><h2>SLO</h2>${aborted}${report.slo.held ? `<p class="status done">The SLO held.</p>` : `<p class="status failed">The SLO broke ${report.slo.breaches.length} time(s):</p><ul>${items}</ul>`}</section>`;
}

function totalsTable(report: RunReport): string {
  const rows = trafficTotals(report).map(([name, t]) => [escapeHtml(name), humanBytes(t.bytesUp), humanBytes(t.bytesDown), humanRate(t.throughputUp), humanRate(t.throughputDown), String(t.connections)]);
  return rows.length ? `<section><h2>Traffic over the run</h2>${table(["proxy", "up", "down", "throughput up", "throughput down", "connections"], rows)}</section>` : "";
}

/** The whole report as one HTML document. */
export async function renderHtmlReport(report: RunReport, series: RunSeries): Promise<string> {
  const lib = await loadChartLibrary();
  const verdict = verdictOf(report);
  const data = chartData(report, series);
  const hasProbes = Object.keys(series.samples).length > 0;
  const strip = data.steps
    .map((s) => {
      const total = Math.max(1, data.durationMs);
      const left = (Math.max(0, s.start) / total) * 100;
      const width = Math.max(0.5, ((Math.min(s.end, total) - Math.max(0, s.start)) / total) * 100);
      return `<div class="band b${s.index % 6} ${escapeHtml(s.status)}" data-start="${s.start}" data-end="${s.end}" style="left:${left.toFixed(2)}%;width:${width.toFixed(2)}%" title="${escapeHtml(`step ${s.index + 1}: ${s.name}`)}"><span>${s.index + 1}. ${escapeHtml(s.name)}</span></div>`;
    })
    .join("");
  const cmd = report.command ? `<code>${escapeHtml(shellQuote(report.command))}</code>` : "no command";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>netimpair run: ${escapeHtml(report.scenario)} (${verdict})</title>
<style>${lib.css}</style>
<style>${HTML_STYLE}${CLIENT_HTML_STYLE}</style>
</head>
<body>
<header>
<h1>netimpair run: ${escapeHtml(report.scenario)}</h1>
${report.description ? `<p>${escapeHtml(report.description)}</p>` : ""}
<p class="verdict ${verdict}">${verdict.toUpperCase()}: exit ${report.exitCode} after ${humanDuration(report.durationMs)}, ${cmd}, started ${escapeHtml(report.startedAt)}${report.stopped ? ` &mdash; ${escapeHtml(report.stopped)}` : ""}</p>
</header>
<section><h2>Timeline</h2><div class="strip">${strip}</div><div id="chart-timeline" class="chart"></div><p class="legend">Bands: the steps. Red marks: faults the agents counted (resets, refusals, stalls...)${report.aborted ? "; the black line: the abort" : ""}.</p></section>
${hasProbes ? `<section><h2>Probe latency</h2><div id="chart-latency" class="chart"></div></section><section><h2>Probe availability</h2><div id="chart-availability" class="chart"></div></section>` : ""}
<section><h2>Throughput per proxy</h2><div id="chart-throughput" class="chart"></div></section>
${sloSection(report)}
${clientsHtml(report)}
<section><h2>Steps</h2>${stepsTable(report)}</section>
${probesTable(report)}
${totalsTable(report)}
<footer>netimpair &middot; charts by uPlot (MIT), inlined</footer>
<script type="application/json" id="run-data">${jsonSafe(data)}</script>
<script>${scriptSafe(lib.js)}</script>
<script>${scriptSafe(HTML_CLIENT_SCRIPT)}</script>
</body>
</html>
`;
}
