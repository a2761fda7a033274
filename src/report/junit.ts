// JUnit XML of a run: one test case per step; a step fails when the command failed during it
// (by itself: a command the runner stopped did not fail), errors when one of its actions failed
// or the run was stopped while it was in progress (Ctrl-C, a lost agent, a panic), and is
// skipped when the run never reached it.
import { formatBitRate, formatBytes } from "../units.js";
import { stepsFailedByCommand, totalFaults, type RunReport, type StepReport } from "./report.js";
import { experimentCase, stepSloLines } from "./junit-experiment.js";
import { clientCases } from "./junit-clients.js";
import { shellQuote } from "./shell-quote.js";
import { escapeXml } from "./xml.js";

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function stepTraffic(s: StepReport): string {
  return Object.entries(s.perProxy)
    .map(([name, t]) => `${name}: up ${formatBytes(t.bytesUp)} (${formatBitRate(t.throughputUp * 8)}), down ${formatBytes(t.bytesDown)} (${formatBitRate(t.throughputDown * 8)}), ${t.connections} connections, ${totalFaults(t)} faults`)
    .join("\n");
}

export function renderJunit(report: RunReport): string {
  const failedByCommand = stepsFailedByCommand(report);
  const cmd = report.command ? shellQuote(report.command) : "the scenario";
  let failures = 0;
  let errors = 0;
  let skipped = 0;
  const cases = report.steps.map((s) => {
    const name = `step ${s.index + 1} at ${seconds(s.at)}s: ${s.name} (${s.proxies.join(", ")})`;
    const open = `    <testcase classname="netimpair.${escapeXml(report.scenario)}" name="${escapeXml(name)}" time="${seconds(s.durationMs)}">`;
    const body: string[] = [];
    const slo = stepSloLines(s);
    // one child per test case, so the totals add up: an action that failed (error), else what
    // failed under test (the slo, the command: failure), else the run stopping (error), else
    // skipped; what else happened in the step goes in that child's message
    const stopped = s.stoppedBy !== undefined ? `the run stopped during this step: ${s.stoppedBy}${report.commandExit?.stoppedByRunner ? "; the command was stopped by the runner" : ""}` : null;
    const failed: string[] = [];
    if (slo.failed) failed.push(slo.message);
    if (failedByCommand.has(s.index)) {
      const exit = report.commandExit!;
      failed.push(`${cmd} ${exit.signal ? `was killed by ${exit.signal}` : `exited with ${exit.code}`} during this step`);
    }
    if (s.status === "failed" && (s.error !== undefined || !slo.failed)) {
      errors++;
      const message = [s.error ?? "the step failed", ...failed].join("; ");
      body.push(`      <error message="${escapeXml(message)}" type="StepFailed"/>`);
    } else if (failed.length > 0) {
      failures++;
      const type = slo.failed ? "SloBreach" : "CommandFailed";
      const message = [...failed, ...(stopped !== null ? [stopped] : [])].join("; ");
      body.push(slo.figures !== "" ? `      <failure message="${escapeXml(message)}" type="${type}">${escapeXml(slo.figures)}</failure>` : `      <failure message="${escapeXml(message)}" type="${type}"/>`);
    } else if (stopped !== null) {
      errors++;
      body.push(`      <error message="${escapeXml(stopped)}" type="RunStopped"/>`);
    } else if (s.status === "not-reached") {
      skipped++;
      body.push(`      <skipped message="the run ended before this step"/>`);
    }
    const traffic = [stepTraffic(s), slo.figures].filter((t) => t !== "").join("\n");
    if (traffic !== "") body.push(`      <system-out>${escapeXml(traffic)}</system-out>`);
    return body.length === 0 ? `${open}</testcase>` : [open, ...body, "    </testcase>"].join("\n");
  });
  const experiment = experimentCase(report, seconds);
  if (experiment) {
    cases.push(experiment.xml);
    if (experiment.failed) failures++;
  }
  const expect = clientCases(report);
  cases.push(...expect.cases);
  failures += expect.failures;
  skipped += expect.skipped;
  const tests = cases.length;
  const suite = `  <testsuite name="${escapeXml(report.scenario)}" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds(report.durationMs)}" timestamp="${escapeXml(report.startedAt)}">`;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="netimpair" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds(report.durationMs)}">`,
    suite,
    ...cases,
    "  </testsuite>",
    "</testsuites>",
    "",
  ].join("\n");
}
