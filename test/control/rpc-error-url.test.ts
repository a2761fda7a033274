// An RpcError says which agent answered: `url` is that agent's control URL (with two agents,
// each error names its own), while the message stays the agent's own words, so the CLI, which
// puts the URL in front, names it exactly once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, RpcError, type ControlClient } from "../../src/control/client.js";
import { runCli, startEchoAgent, type EchoAgent } from "../support/cli.js";

let one: EchoAgent;
let two: EchoAgent;
let clients: ControlClient[] = [];

before(async () => {
  [one, two] = await Promise.all([startEchoAgent(), startEchoAgent()]);
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([one.close(), two.close()]);
});

test("RpcError.url is the control URL of the agent that refused the call", async () => {
  clients = await Promise.all([connect(one.agent.url), connect(two.agent.url)]);
  const [a, b] = clients as [ControlClient, ControlClient];
  assert.notEqual(one.agent.url, two.agent.url);
  for (const [ctl, url] of [
    [a, one.agent.url],
    [b, two.agent.url],
  ] as const) {
    const err = await ctl.apply("pg", "clean", { set: { "down.delay": "soon" } }).catch((e: unknown) => e);
    assert.ok(err instanceof RpcError, String(err));
    assert.equal(err.url, url);
    assert.equal(err.method, "impair.apply");
    assert.match(err.message, /set\.down\.delay: .*"soon"/);
    assert.ok(!err.message.includes(url), `the message leaves the URL to the caller: ${err.message}`);
  }
});

test("the CLI names the agent's URL once in front of the agent's error", async () => {
  const r = await runCli(["--agent", one.agent.url, "apply", "nope", "--proxy", "pg"]);
  assert.equal(r.code, 1, r.stdout);
  const line = r.stderr.split("\n").find((l) => l.includes("nope")) ?? "";
  assert.equal(line.split(one.agent.url).length - 1, 1, r.stderr);
});
