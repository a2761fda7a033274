import { test } from "node:test";
import assert from "node:assert/strict";
import { formatBitRate } from "../../src/units.js";
import { renderJunit } from "../../src/report/junit.js";
import { escapeXml } from "../../src/report/xml.js";
import { renderMarkdown } from "../../src/report/markdown.js";
import { humanBytes, humanDuration } from "../../src/report/format.js";
import { trafficBetween, zeroFaults, type RunReport, type StepReport } from "../../src/report/report.js";

function step(index: number, at: number, durationMs: number, status: StepReport["status"], name = `apply p${index}`): StepReport {
  const start = Date.parse("2030-01-01T00:00:00.000Z") + at;
  return {
    index,
    name,
    at,
    for: null,
    action: name,
    proxies: ["pg"],
    startedAt: status === "not-reached" ? null : new Date(start).toISOString(),
    endedAt: status === "not-reached" ? null : new Date(start + durationMs).toISOString(),
    lateMs: status === "not-reached" ? null : 0,
    durationMs: status === "not-reached" ? 0 : durationMs,
    status,
    perProxy: status === "not-reached" ? {} : { pg: { bytesUp: 1500, bytesDown: 2_500_000, throughputUp: 1500, throughputDown: 2_500_000, connections: 2, faults: { ...zeroFaults(), reset: 1 } } },
  };
}

function report(over: Partial<RunReport> = {}): RunReport {
  return {
    scenario: 'a <b> & "c"',
    description: "",
    startedAt: "2030-01-01T00:00:00.000Z",
    exitCode: 3,
    durationMs: 2500,
    command: ["npm", "test"],
    commandExit: { atMs: 2500, code: 3, signal: null, stoppedByRunner: false },
    agents: [{ name: "a", url: "ws://a/control" }],
    stopped: null,
    steps: [step(0, 0, 1000, "done"), step(1, 1000, 1500, "cut-short", "ramp x -> y"), step(2, 5000, 0, "not-reached")],
    totals: {},
    baseline: null,
    ...over,
  };
}

test("JUnit: the step the command failed in fails, unreached steps are skipped, names are escaped", () => {
  const xml = renderJunit(report());
  assert.match(xml, /<testsuites name="netimpair" tests="3" failures="1" errors="0" skipped="1" time="2.500">/);
  assert.match(xml, /<testsuite name="a &lt;b&gt; &amp; &quot;c&quot;"/);
  const cases = xml.split("<testcase ").slice(1);
  assert.equal(cases.length, 3);
  assert.doesNotMatch(cases[0]!, /<failure/);
  assert.match(cases[1]!, /name="step 2 at 1.000s: ramp x -&gt; y \(pg\)" time="1.500"/);
  assert.match(cases[1]!, /<failure message="npm test exited with 3 during this step"/);
  assert.match(cases[0]!, /<system-out>pg: up 1\.5kB \(12kbps\)/);
  assert.match(cases[2]!, /<skipped/);
  assert.equal(escapeXml("a\u0001b<"), "ab&lt;");
  const passed = renderJunit(report({ exitCode: 0, commandExit: { atMs: 2500, code: 0, signal: null, stoppedByRunner: false } }));
  assert.match(passed, /failures="0"/);
});

test("Markdown: a row per step and proxy, and the clean/impaired comparison with --baseline", () => {
  const md = renderMarkdown(
    report({
      totals: { pg: { bytesUp: 10, bytesDown: 1000, throughputUp: 4, throughputDown: 400, connections: 2, faults: zeroFaults() } },
      baseline: { startedAt: "2030-01-01T00:00:00.000Z", exitCode: 0, durationMs: 1000, perProxy: { pg: { bytesUp: 10, bytesDown: 1000, throughputUp: 10, throughputDown: 1000, connections: 2, faults: zeroFaults() } } },
    }),
  );
  assert.match(md, /^## netimpair run: a <b> & "c"$/m);
  assert.match(md, /`npm test` exited with \*\*3\*\* after 2\.5s/);
  assert.match(md, /\| 1 \| 0ms \| apply p0 \| pg \| 1\.0s \| 1\.5kB \| 2\.5MB \| 12kbps \| 20Mbps \| 2 \| reset 1 \| ok \|/);
  assert.match(md, /\| 2 \| 1\.0s \| ramp x -> y \| pg \| .* \| command failed \|/);
  assert.match(md, /\| 3 \| 5\.0s \| apply p2 \| pg \| - \| .* \| not reached \|/);
  assert.match(md, /\| duration \| 1\.0s \| 2\.5s \| \+150% \|/);
  assert.match(md, /\| exit code \| 0 \| 3 \| changed \|/);
  assert.match(md, /\| pg throughput down \| 8kbps \| 3\.2kbps \| -60% \|/);
  // one way to print sizes and rates (as conns and status do): SI units, three significant digits
  assert.equal(humanBytes(999), "999B");
  assert.equal(humanBytes(5364), "5.36kB");
  assert.equal(humanBytes(10_485_760), "10.5MB");
  assert.equal(formatBitRate(110_967), "111kbps");
  assert.equal(formatBitRate(1_200_000), "1.2Mbps");
  assert.equal(formatBitRate(999_700), "1Mbps");
  assert.equal(humanDuration(125_000), "2m05s");
});

test("traffic between two counter samples: deltas, rates, and counters that went backwards count from zero", () => {
  const f = zeroFaults();
  const before = { pg: { bytesUp: 100, bytesDown: 1000, connectionsTotal: 3, faults: { ...f, stall: 2 } } };
  const after = { pg: { bytesUp: 2100, bytesDown: 500, connectionsTotal: 5, faults: { ...f, stall: 5 } }, other: { bytesUp: 1, bytesDown: 1, connectionsTotal: 1, faults: f } };
  const t = trafficBetween(before, after, 2000, ["pg"]);
  assert.deepEqual(Object.keys(t), ["pg"]);
  assert.equal(t.pg!.bytesUp, 2000);
  assert.equal(t.pg!.throughputUp, 1000);
  assert.equal(t.pg!.bytesDown, 500); // the proxy was recreated: its counter started again
  assert.equal(t.pg!.connections, 2);
  assert.equal(t.pg!.faults.stall, 3);
});
