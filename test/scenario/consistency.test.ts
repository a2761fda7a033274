// One way of saying each thing across `netimpair run` and its neighbours: step numbers count
// from 1 in errors as in the tables; time left keeps one format; a trace cell's error names the
// unit its header set; a lost agent's URL is said once; the summary quotes the command's
// arguments as a shell would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../support/cli.js";
import { run, runLab, startRun, waitFor } from "./run-lab.js";

test("errors count steps from 1, as the step table does, and name nested repeat steps", async () => {
  const l = await runLab();
  try {
    const bad = await l.file(
      [
        "proxies: [pg]", //                                           1
        "steps:", //                                                  2
        "  - {at: 0s, apply: 3g}", //                                 3
        "  - {at: 1s, ramp: {from: 3g, to: 2g, over: soon}}", //      4
        "  - at: 2s", //                                              5
        "    repeat: {times: 2, every: 1s, steps: [{at: later, clear: true}]}", // 6
      ].join("\n"),
    );
    const res = await run([bad, "--agent", l.agent.url]);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /:4: step 2, ramp\.over: expected a duration .*got "soon"/);
    assert.match(res.stderr, /:6: step 3, repeat step 1, at: expected a duration .*got "later"/);
    assert.doesNotMatch(res.stderr, /steps\.\d/);
    const unknown = await run([await l.file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n  - {at: 1s, apply: 2g, proxies: [pgg]}\n"), "--agent", l.agent.url]);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, /step 2: proxy "pgg" is on no agent \(they have: pg\)/);
    // a scenario-wide proxy no agent has is said once, not once per step
    const everyStep = await run([await l.file("proxies: [pg, cache]\nsteps:\n  - {at: 0s, apply: 3g}\n  - {at: 1s, apply: 2g}\n  - {at: 2s, clear: true}\n"), "--agent", l.agent.url]);
    assert.equal(everyStep.code, 1, everyStep.stderr);
    assert.equal(everyStep.stderr.split('proxy "cache" is on no agent').length - 1, 1, everyStep.stderr);
    assert.match(everyStep.stderr, /step 1 \(and 2 more steps\): proxy "cache" is on no agent \(they have: pg\)/);
  } finally {
    await l.close();
  }
});

test("a bad trace cell in a column whose header set kbps says so, not the default bits/s", async () => {
  const l = await runLab();
  try {
    const csv = await l.file("time(s),down(kbps),up(kbps)\n0,12000,4000\n10,fast,600\n", "csv");
    const scenario = await l.file(`proxies: [pg]\nsteps:\n  - {at: 0s, trace: ${csv}}\n`);
    const res = await run([scenario, "--agent", l.agent.url]);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /:3: down "fast": .*\(a bare number in this column is kbps, as its header says\)/);
    assert.doesNotMatch(res.stderr, /bits\/s/);
  } finally {
    await l.close();
  }
});

test("the summary quotes the command's arguments shell-style", async () => {
  const l = await runLab();
  try {
    const scenario = await l.file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n");
    const res = await run([scenario, "--agent", l.agent.url, "--", "sh", "-c", "exit 0", "it's", ""]);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(res.stdout.includes("`sh -c 'exit 0' 'it'\\''s' ''` exited with **0**"), res.stdout);
    assert.ok(res.stderr.includes("running sh -c 'exit 0' 'it'\\''s' ''"), res.stderr);
  } finally {
    await l.close();
  }
});

test("an agent lost mid-run is named once, with the cause", async () => {
  const l = await runLab();
  try {
    const scenario = await l.file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n  - {at: 30s, apply: 2g}\n");
    const r = startRun([scenario, "--agent", l.agent.url, "--", process.execPath, "-e", "setTimeout(() => {}, 30000)"]);
    await waitFor("step 1", async () => (await l.impairment()) === "3g" && /running /.test(r.stderr()));
    l.agent.child.kill("SIGKILL");
    const res = await r.done;
    assert.equal(res.code, 1, res.stderr);
    const line = res.stderr.split("\n").find((x) => /lost agent/.test(x));
    assert.ok(line, res.stderr);
    assert.equal(line.split(l.agent.url).length - 1, 1, `the URL once: ${line}`);
    assert.match(line, new RegExp(`lost agent ${l.agent.url.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: \\S`));
  } finally {
    await l.close();
  }
});

test("status shows time left in one format (4m59s, not 4.98m / 299s)", async () => {
  const l = await runLab();
  try {
    const applied = await runCli(["apply", "3g", "--proxy", "pg", "--for", "5m", "--agent", l.agent.url]);
    assert.equal(applied.code, 0, applied.stderr);
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const st = await runCli(["status", "--agent", l.agent.url]);
      assert.equal(st.code, 0, st.stderr);
      const m = /3g \(([^ ,)]+) left/.exec(st.stdout);
      assert.ok(m, st.stdout);
      seen.add(m[1]!);
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
    for (const left of seen) assert.match(left, /^(4m[0-5]\ds|5m00s)$/);
  } finally {
    await l.close();
  }
});

test("run --json is one document, the run report, with one agent as with several, passed or failed", async () => {
  const l = await runLab();
  try {
    const scenario = await l.file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g, for: 100ms}\n");
    const ok = await run([scenario, "--json", "--agent", l.agent.url]);
    const url = l.agent.url; // a port nobody serves once the agent has stopped
    await l.agent.stop();
    const failed = await run([scenario, "--json", "--agent", url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(failed.code, 1, failed.stderr);
    const a = JSON.parse(ok.stdout) as Record<string, unknown>;
    const b = JSON.parse(failed.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    assert.equal(a.stopped, null);
    assert.match(String(b.stopped), /unreachable: connection refused/);
    assert.equal(Array.isArray(b), false);
    assert.equal("ok" in b, false, "no {agent, url, ok, error} envelope");
  } finally {
    await l.close();
  }
});
