// `--json` with one agent prints one shape: the command's result, or nothing on stdout when the
// agent failed (the failure is one line on stderr, exit 1), never an {agent, url, ok, error}
// envelope in place of the result. Several agents keep the array of outcomes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { closedPort, runCli } from "../support/cli.js";
import { runLab } from "./run-lab.js";

test("one agent: --json is the bare result when it answers, nothing on stdout when it fails", async () => {
  const l = await runLab();
  try {
    const dead = `ws://127.0.0.1:${await closedPort()}/control`;
    for (const args of [["status"], ["clear", "--proxy", "pg"], ["watch", "--count", "1"]]) {
      const ok = await runCli(["--json", "--agent", l.agent.url, ...args]);
      assert.equal(ok.code, 0, `${args[0]}: ${ok.stderr}`);
      const doc = JSON.parse(ok.stdout) as unknown;
      assert.equal(typeof doc === "object" && doc !== null && "ok" in doc && "url" in doc, false, `${args[0]}: the bare result, not an envelope`);

      const failed = await runCli(["--json", "--agent", dead, ...args]);
      assert.equal(failed.code, 1, `${args[0]}: ${failed.stderr}`);
      assert.equal(failed.stdout, "", `${args[0]}: no other shape on stdout`);
      assert.equal(failed.stderr.trim(), `${dead}: connection refused`);
    }
    // several agents: the array of outcomes, the failed one among them
    const both = await runCli(["--json", "--agent", l.agent.url, "--agent", dead, "status"]);
    assert.equal(both.code, 1);
    const outcomes = JSON.parse(both.stdout) as { url: string; ok: boolean }[];
    assert.deepEqual(outcomes.map((o) => [o.url, o.ok]), [[l.agent.url, true], [dead, false]]);
  } finally {
    await l.close();
  }
});
