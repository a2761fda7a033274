// The experiment's figures in the progress line, the webhook's text, Markdown and JUnit, from a
// report as the runner fills it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { renderProgressLine } from "../../src/scenario/progress.js";
import { renderMarkdown } from "../../src/report/markdown.js";
import { renderJunit } from "../../src/report/junit.js";
import type { RunReport } from "../../src/report/report.js";
import { notifyText } from "../../src/experiment/notify.js";
import type { ProbeStats } from "../../src/report/figures.js";

function stats(over: Partial<ProbeStats>): ProbeStats {
  return { samples: 10, successes: 10, availability: 1, p50Ms: 4, p95Ms: 9, p99Ms: 12, maxMs: 12, failures: {}, recoveryMs: null, ...over };
}

function report(): RunReport {
  const traffic = { bytesUp: 100, bytesDown: 200, throughputUp: 10, throughputDown: 20, connections: 3, faults: { refuse: 0 } } as unknown as RunReport["totals"][string];
  return {
    scenario: "api-db",
    description: "",
    startedAt: "2026-12-01T10:00:00.000Z",
    exitCode: 1,
    durationMs: 3000,
    command: null,
    commandExit: null,
    agents: [],
    stopped: null,
    steps: [
      { index: 0, name: "calm", at: 0, for: 1000, action: "apply lte", proxies: ["pg"], startedAt: "2026-12-01T10:00:00.000Z", endedAt: "2026-12-01T10:00:01.000Z", lateMs: 0, durationMs: 1000, status: "done", perProxy: { pg: traffic }, probes: { api: stats({}) } },
      {
        index: 1,
        name: "partition",
        at: 1000,
        for: 1000,
        action: "apply partition",
        proxies: ["pg"],
        startedAt: "2026-12-01T10:00:01.000Z",
        endedAt: "2026-12-01T10:00:02.000Z",
        lateMs: 0,
        durationMs: 1000,
        status: "failed",
        perProxy: { pg: traffic },
        probes: { api: stats({ successes: 0, availability: 0, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null, failures: { reset: 6, timeout: 4 }, recoveryMs: 7200 }) },
        sloBreaches: [
          { probe: "api", what: "availability", limit: 0.99, got: 0, where: "step 2" },
          { probe: "api", what: "recovery", limit: 5000, got: 7200, where: "step 2" },
        ],
      },
    ],
    totals: Object.assign({ pg: traffic }, { probes: { api: stats({ samples: 30, successes: 20, availability: 0.6667, recoveryMs: 7200, failures: { reset: 6, timeout: 4 } }) } }) as unknown as RunReport["totals"],
    baseline: null,
    steadyState: { before: { api: stats({}) }, after: null },
    slo: {
      held: false,
      breaches: [
        { probe: "api", what: "availability", limit: 0.99, got: 0, where: "step 2" },
        { probe: "api", what: "recovery", limit: 5000, got: 7200, where: "step 2" },
        { probe: "api", what: "availability", limit: 0.99, got: 0.6667, where: "run" },
      ],
    },
    aborted: null,
  };
}

test("the progress line shows each probe's availability and its latest sample", () => {
  const line = renderProgressLine({ elapsedMs: 1500, totalMs: 3000, step: "2/2 partition", stepLeftMs: 500, throughput: {}, probes: { api: { availability: 0.625, last: "timeout" }, db: { availability: 1, last: "12ms" } } });
  assert.equal(line, "step 2/2 partition (1s left) | 1.5s of 3.0s | api 62.5% ok (last timeout) | db 100% ok (last 12ms)");
});

test("the webhook's text: verdict, breaches, each probe's worst figures", () => {
  assert.equal(
    notifyText(report()),
    [
      "netimpair run api-db: FAILED (exit 1, 3s)",
      "slo broken: api availability 0% < 99% (step 2); api recovery 7.2s > 5s (step 2); api availability 66.7% < 99% (run)",
      "api: availability 66.7%, worst 0% in step 2 partition, p95 9ms, p99 12ms, max 12ms, slowest recovery 7.2s",
    ].join("\n"),
  );
});

test("Markdown and JUnit carry the probes' figures and the slo's breaches", () => {
  const md = renderMarkdown(report());
  assert.match(md, /\| 2 \| 1\.0s \| partition \| pg \|.*\| slo broken \|/);
  assert.match(md, /\*\*SLO broken\*\* \(3\):\n\n- api availability 0% < 99% \(step 2\)\n- api recovery 7\.2s > 5s \(step 2\)/);
  assert.match(md, /\| 2 partition \| api \| 10 \| 0 \| 0% \| - \| - \| - \| - \| reset 6, timeout 4 \| 7\.2s \| broken: availability, recovery \|/);
  assert.match(md, /\| steady state before \| api \| 10 \| 10 \| 100% \|/);
  const xml = renderJunit(report());
  assert.match(xml, /tests="3" failures="2" errors="0" skipped="0"/);
  assert.match(xml, /<failure message="slo broken: api availability 0% &lt; 99%; api recovery 7\.2s &gt; 5s" type="SloBreach">api: 0\/10 ok \(0%\), p50 - p95 - p99 - max -, failures reset 6, timeout 4, recovery 7\.2s<\/failure>/);
  assert.match(xml, /name="experiment: steady state, slo over the run, stop condition"[^>]*>\n {6}<failure message="api availability 66\.7% &lt; 99% \(run\)" type="SloBreach">/);
});
