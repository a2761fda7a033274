// A step's `name` shows in the progress lines of `netimpair run` (as docs/scenarios.md says),
// next to what the step does; a step without one shows only its action.
import { test } from "node:test";
import assert from "node:assert/strict";
import { run, runLab } from "./run-lab.js";

test("progress lines carry each step's name: step 2 \"warm cache\": apply inline spec (pg)", async () => {
  const l = await runLab();
  try {
    const scenario = await l.file(
      [
        "proxies: [pg]",
        "steps:",
        "  - {at: 0s, apply: 3g}",
        "  - {at: 200ms, apply: {down: {delay: 5ms}}, name: warm cache, for: 200ms}",
        "  - {at: 600ms, ramp: {from: 3g, to: 2g, over: 300ms, every: 100ms}, name: 'worse: 3g -> 2g'}",
      ].join("\n"),
    );
    const res = await run([scenario, "--agent", l.agent.url]);
    assert.equal(res.code, 0, res.stderr);
    const notes = res.stderr.split("\n").filter((line) => /^netimpair run: [\d.]+s step /.test(line)).map((line) => line.replace(/^netimpair run: [\d.]+s /, ""));
    assert.deepEqual(notes, [
      "step 1: apply 3g (pg)",
      'step 2 "warm cache": apply inline spec (pg)',
      'step 2 "warm cache": for ended: back to what the previous steps left (pg)',
      'step 3 "worse: 3g -> 2g": ramp 3g -> 2g 0% (pg)',
    ]);
  } finally {
    await l.close();
  }
});
