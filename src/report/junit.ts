// JUnit XML of a run: one test case per step; a step fails when the command failed during it
// (by itself: a command the runner stopped did not fail), errors when one of its actions failed
// or the run was stopped while it was in progress (Ctrl-C, a lost agent, a panic), and is
// skipped when the run never reached it.
import { formatBandwidth, formatSize } from "../units.js";
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
    .map(([name, t]) => `${name}: up ${formatSize(t.bytesUp)} (${formatBandwidth(t.throughputUp * 8)}), down ${formatSize(t.bytesDown)} (${formatBandwidth(t.throughputDown * 8)}), ${t.connections} connections, ${totalFaults(t)} faults`)
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
    if (slo.failed) {
      failures++;
      body.push(...slo.lines);
    }
    if (s.status === "failed" && (s.error !== undefined || !slo.failed)) {
      errors++;
      body.push(`      <error message="${escapeXml(s.error ?? "the step failed")}" type="StepFailed"/>`);
    } else if (s.stoppedBy !== undefined) {
      errors++;
      const command = report.commandExit?.stoppedByRunner ? "; the command was stopped by the runner" : "";
      body.push(`      <error message="${escapeXml(`the run stopped during this step: ${s.stoppedBy}${command}`)}" type="RunStopped"/>`);
    } else if (s.status === "not-reached") {
      skipped++;
      body.push(`      <skipped message="the run ended before this step"/>`);
    }
    if (failedByCommand.has(s.index)) {
      if (!slo.failed) failures++;
      const exit = report.commandExit!;
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with ${exit.code}`;
      body.push(`      <failure message="${escapeXml(`${cmd} ${how} during this step`)}" type="CommandFailed"/>`);
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
