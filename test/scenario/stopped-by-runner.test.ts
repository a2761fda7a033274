// A command the runner stops (a step failed, Ctrl-C) did not fail: JUnit and the summary report
// the real cause on the step that caused it (the failed step's error, or "interrupted" on the
// step in progress) and the command as "stopped by the runner", never "exited with 143 during
// this step" charged to a step.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { RunReport } from "../../src/report/report.js";
import { runLab, startRun, waitFor } from "./run-lab.js";

const sleeper = [process.execPath, "-e", "setTimeout(() => {}, 30000)"];

test("a step that fails stops the command: the failed step carries the error, no step is charged with the command's exit", async () => {
  const l = await runLab();
  try {
    await l.ctl.createProxy("api", "127.0.0.1:0", l.echo.address);
    const scenario = await l.file("name: failing\nsteps:\n  - {at: 0s, apply: 3g, proxies: [pg]}\n  - {at: 800ms, apply: 2g, proxies: [api], name: api degrades}\n  - {at: 20s, clear: true, proxies: [pg]}\n");
    const reportFile = join(l.dir, "failing.json");
    const junitFile = join(l.dir, "failing.xml");
    const r = startRun([scenario, "--agent", l.agent.url, "--report", reportFile, "--junit", junitFile, "--", ...sleeper]);
    await waitFor("step 1", async () => (await l.impairment()) === "3g");
    await l.ctl.deleteProxy("api"); // step 2 cannot apply now
    const res = await r.done;
    assert.equal(res.code, 1, res.stderr);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    assert.match(report.stopped!, /^step 2 "api degrades" \(apply 2g\) failed on .*api/);
    assert.equal(report.commandExit!.stoppedByRunner, true);
    assert.equal(report.steps[1]!.status, "failed");
    assert.equal(report.steps[0]!.stoppedBy, undefined, "step 1 did not cause the stop");
    const xml = await readFile(junitFile, "utf8");
    assert.match(xml, /<testsuites name="netimpair" tests="3" failures="0" errors="1" skipped="1"/);
    assert.doesNotMatch(xml, /CommandFailed|during this step/);
    const cases = xml.split("<testcase ").slice(1);
    assert.doesNotMatch(cases[0]!, /<failure|<error/);
    assert.match(cases[1]!, /<error message="[^"]*api[^"]*" type="StepFailed"\/>/);
    assert.match(res.stdout, /`[^`]*node -e 'setTimeout\(\(\) => \{\}, 30000\)'` was stopped by the runner \(SIGTERM\) after [\d.]+m?s under the scenario; the run's exit code is \*\*1\*\*/);
    assert.doesNotMatch(res.stdout, /command failed/);
    assert.match(res.stdout, /\| 2 \| 800ms \| api degrades \| api \|.*\| error: [^|]*api[^|]* \|/);
  } finally {
    await l.close();
  }
});

test("Ctrl-C: the step in progress says interrupted, the command was stopped by the runner", async () => {
  const l = await runLab();
  try {
    const scenario = await l.file("name: ctrl-c\nproxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g, name: slow link}\n  - {at: 60s, apply: 2g}\n");
    const reportFile = join(l.dir, "ctrl-c.json");
    const junitFile = join(l.dir, "ctrl-c.xml");
    const summaryFile = join(l.dir, "ctrl-c.md");
    const r = startRun([scenario, "--agent", l.agent.url, "--report", reportFile, "--junit", junitFile, "--summary", summaryFile, "--", ...sleeper]);
    await waitFor("step 1 and the command", async () => (await l.impairment()) === "3g" && /running /.test(r.stderr()));
    r.child.kill("SIGINT");
    const res = await r.done;
    assert.equal(res.code, 130, res.stderr);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    assert.equal(report.commandExit!.stoppedByRunner, true);
    assert.equal(report.steps[0]!.stoppedBy, "interrupted by SIGINT");
    assert.ok(existsSync(junitFile));
    const xml = await readFile(junitFile, "utf8");
    assert.match(xml, /<testsuites name="netimpair" tests="2" failures="0" errors="1" skipped="1"/);
    assert.doesNotMatch(xml, /CommandFailed|during this step: .*exited/);
    const cases = xml.split("<testcase ").slice(1);
    assert.match(cases[0]!, /<error message="the run stopped during this step: interrupted by SIGINT; the command was stopped by the runner" type="RunStopped"\/>/);
    const summary = await readFile(summaryFile, "utf8");
    assert.match(summary, /was stopped by the runner \(SIGINT\) after/);
    assert.match(summary, /\| 1 \| 0ms \| slow link \| pg \|.*\| stopped: interrupted by SIGINT \|/);
    assert.doesNotMatch(summary, /command failed/);
  } finally {
    await l.close();
  }
});
