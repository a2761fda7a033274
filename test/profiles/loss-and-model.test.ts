// `loss` beside a gilbert-elliott `lossModel` in one direction would do nothing (the burst model
// alone decides which segments are lost), so a profile, an inline spec or a set of --set values
// that gives both is refused with an error naming both fields. Through the real CLI against a
// real agent, as a user meets it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, startEchoAgent, type EchoAgent } from "../support/cli.js";
import { startCliAgent } from "../support/cli-agent.js";
import { validateProfile } from "../../src/profiles/schema.js";

let a: EchoAgent;
let dir: string;

before(async () => {
  a = await startEchoAgent();
  dir = await mkdtemp(join(tmpdir(), "netimpair-loss-"));
});
after(async () => {
  await a.close();
  await rm(dir, { recursive: true, force: true });
});

// the path carries the layer's prefix where there is one: spec.down.loss, set.down.loss
const BOTH = "down\\.loss: down\\.lossModel is set too, and only it would act";

test("a profile file with loss and a gilbert-elliott lossModel in one direction is refused, naming the file, line and both fields", async () => {
  const file = join(dir, "both.yaml");
  await writeFile(file, ["description: both at once", "down:", "  bandwidth: 1Mbps", "  loss: 1%", "  lossModel: {type: gilbert-elliott, pGoodToBad: 1%, pBadToGood: 20%}", ""].join("\n"));
  // applied as a file: refused by the agent, nothing applied
  const r = await runCli(["--agent", a.agent.url, "apply", file, "--proxy", "pg"]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, new RegExp(`both\\.yaml:4: ${BOTH}`), r.stderr);
  assert.equal(a.agent.agent.impairment("pg"), null, "nothing applied");
  // loaded from --profiles DIR: the agent says which file and line, and does not offer it
  const agent = await startCliAgent(["--profiles", dir]);
  try {
    const line = await agent.waitForLog((l) => l.event === "profile.load");
    assert.match(String(line.msg), new RegExp(`both\\.yaml:4: ${BOTH}`));
    const ls = await runCli(["--agent", agent.url, "profiles", "ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.doesNotMatch(ls.stdout, /^both\b/m);
  } finally {
    await agent.stop();
  }
});

test("--set values giving both are refused; lossModel alone, loss alone, or lossModel bernoulli with loss apply", async () => {
  const both = await runCli(["--agent", a.agent.url, "apply", "clean", "--proxy", "pg", "--set", "down.loss=5%", "--set", "down.lossModel.pGoodToBad=1%", "--set", "down.lossModel.pBadToGood=20%"]);
  assert.notEqual(both.code, 0, both.stdout);
  assert.match(both.stderr, new RegExp(BOTH), both.stderr);

  const model = await runCli(["--agent", a.agent.url, "apply", "clean", "--proxy", "pg", "--set", "down.lossModel.pGoodToBad=1%", "--set", "down.lossModel.pBadToGood=20%"]);
  assert.equal(model.code, 0, model.stderr);
  assert.deepEqual(a.agent.agent.impairment("pg")?.spec.down.gilbertElliott, { pGoodToBad: 0.01, pBadToGood: 0.2, lossInBad: 1, lossInGood: 0 });
  const plain = await runCli(["--agent", a.agent.url, "apply", "clean", "--proxy", "pg", "--set", "down.loss=5%"]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(a.agent.agent.impairment("pg")?.spec.down.loss, 0.05);
  await runCli(["--agent", a.agent.url, "clear"]);
});

test("the check is per layer: bernoulli uses loss, and a resolved spec (gilbertElliott with its loss) still round-trips", () => {
  assert.deepEqual(validateProfile({ down: { loss: "2%", lossModel: { type: "bernoulli" } } }).errors, []);
  assert.deepEqual(validateProfile({ up: { loss: 0.01, gilbertElliott: { pGoodToBad: 0.01, pBadToGood: 0.5 } } }).errors, []);
  const both = validateProfile({ up: { loss: "1%", lossModel: { pGoodToBad: 0.01, pBadToGood: 0.5 } } });
  assert.deepEqual(both.errors.map((e) => e.path), ["up.loss"]);
  assert.match(both.errors[0]!.message, /^up\.lossModel is set too/);
});
