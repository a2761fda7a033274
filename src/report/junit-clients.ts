// The client verdicts' part of the JUnit report: each expectation is a test case, failing with
// the figure that shows it broke, skipped when nothing happened that could judge it.
import type { RunReport } from "./report.js";
import { escapeXml } from "./xml.js";
import { clientLine, expectationName } from "./clients-text.js";

export function clientCases(report: RunReport): { cases: string[]; failures: number; skipped: number } {
  const out = { cases: [] as string[], failures: 0, skipped: 0 };
  for (const e of report.expectations ?? []) {
    const open = `    <testcase classname="netimpair.${escapeXml(report.scenario)}.expect" name="${escapeXml(expectationName(e))}" time="0">`;
    const c = report.clients?.[e.proxy];
    const figures = c ? `      <system-out>${escapeXml(clientLine(e.proxy, c))}</system-out>` : "";
    const body: string[] = [];
    if (!e.held) {
      out.failures++;
      body.push(`      <failure message="${escapeXml(e.text)}" type="ExpectationBroken"/>`);
    } else if (e.got === null) {
      out.skipped++;
      body.push(`      <skipped message="${escapeXml(e.text)}"/>`);
    }
    if (figures) body.push(figures);
    out.cases.push([open, ...body, "    </testcase>"].join("\n"));
  }
  return out;
}
