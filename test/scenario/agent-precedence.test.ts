// Which agents `netimpair run` plays on: --agent (or --agents) > the scenario's `agents:` >
// env NETIMPAIR_AGENT > ws://127.0.0.1:8474/control.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RunReport } from "../../src/report/report.js";
import { run, runLab } from "./run-lab.js";

const DEFAULT_AGENT = "ws://127.0.0.1:8474/control";

test("the scenario's agents: win over NETIMPAIR_AGENT; --agent wins over both; the env is used when the file names none", async () => {
  const a = await runLab();
  const b = await runLab();
  try {
    const steps = "proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g, for: 100ms}\n";
    const withAgents = await a.file(`agents: [${a.agent.url}]\n${steps}`);
    const without = await a.file(steps);
    const agentsOf = (stdout: string): string[] => (JSON.parse(stdout) as RunReport).agents.map((x) => x.url);

    // file over env
    const fileWins = await run([withAgents, "--json"], { NETIMPAIR_AGENT: b.agent.url });
    assert.equal(fileWins.code, 0, fileWins.stderr);
    assert.deepEqual(agentsOf(fileWins.stdout), [a.agent.url]);
    // a NETIMPAIR_AGENT the file overrides is not even read: a bad one is no error
    const badEnv = await run([withAgents, "--json"], { NETIMPAIR_AGENT: "ftp://nowhere" });
    assert.equal(badEnv.code, 0, badEnv.stderr);
    assert.deepEqual(agentsOf(badEnv.stdout), [a.agent.url]);
    // flag over file and env
    const flagWins = await run([withAgents, "--json", "--agent", b.agent.url], { NETIMPAIR_AGENT: a.agent.url });
    assert.equal(flagWins.code, 0, flagWins.stderr);
    assert.deepEqual(agentsOf(flagWins.stdout), [b.agent.url]);
    // env when the file names none
    const envUsed = await run([without, "--json"], { NETIMPAIR_AGENT: b.agent.url });
    assert.equal(envUsed.code, 0, envUsed.stderr);
    assert.deepEqual(agentsOf(envUsed.stdout), [b.agent.url]);
    // the default last (whether or not an agent listens there, the report names it)
    const fallback = await run([without, "--json", "--timeout", "2s"]);
    assert.deepEqual(agentsOf(fallback.stdout), [DEFAULT_AGENT]);
    // a bad URL in the file is named as the file's
    const badFile = await a.file(`agents: [${a.agent.url}, "ftp://nowhere"]\n${steps}`);
    const bad = await run([badFile]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.ok(bad.stderr.includes(`${badFile}: agents, entry 2 "ftp://nowhere": unsupported scheme`), bad.stderr);
    // what each agent saw: b's pg was impaired by the runs that chose b only
    const changes = (l: typeof a): number => l.agent.logs().filter((line) => line.event === "impairment.change" && line.profile === "3g").length;
    assert.deepEqual([changes(a), changes(b)], [2, 2]);
  } finally {
    await a.close();
    await b.close();
  }
});
