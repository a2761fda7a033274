// Bad values the agent checks are usage errors like the ones the CLI checks: exit 2, and the
// message names the flag (or the file and line) they came from, never a `params.` path. A
// profile file applied by path shows by its own name. Real agent process, real CLI processes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCliAgent, type CliAgent } from "../support/cli-agent.js";
import { runCli } from "../support/cli.js";
import { echoServer, type Peer } from "../support/net.js";

let echo: Peer;
let agent: CliAgent;
let dir: string;
let at: string[];

before(async () => {
  echo = await echoServer();
  agent = await startCliAgent(["--proxy", `pg=127.0.0.1:0,${echo.address}`]);
  dir = await mkdtemp(join(tmpdir(), "netimpair-usage-errors-"));
  at = ["--agent", agent.url];
});

after(async () => {
  await agent.stop();
  await echo.close();
  await rm(dir, { recursive: true, force: true });
});

async function impairment(): Promise<{ profile: string } | null> {
  const r = await runCli([...at, "--json", "proxy", "ls"]);
  assert.equal(r.code, 0, r.stderr);
  const pg = (JSON.parse(r.stdout) as { name: string; impairment: { profile: string } | null }[]).find((p) => p.name === "pg");
  assert.ok(pg);
  return pg.impairment;
}

test("apply --set with a value the agent refuses: exit 2 naming --set down.delay and the value", async () => {
  const r = await runCli([...at, "apply", "clean", "--set", "down.delay=20parsecs", "--proxy", "pg"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /: --set down\.delay: .*"20parsecs"/);
  assert.doesNotMatch(r.stderr, /params\./);
  assert.equal(await impairment(), null, "nothing was applied");

  // --json with one agent: stdout holds only a result, so a failure leaves it empty; the
  // usage error is still exit 2 and its line on stderr names the flag
  const j = await runCli([...at, "--json", "apply", "clean", "--set", "down.delay=20parsecs", "--proxy", "pg"]);
  assert.equal(j.code, 2);
  assert.equal(j.stdout, "");
  assert.match(j.stderr, /: --set down\.delay: .*"20parsecs"/);
  // with two agents the array of outcomes says which failure is a usage error
  const second = await startCliAgent(["--proxy", `pg=127.0.0.1:0,${echo.address}`]);
  const two = await runCli(["--agent", `${agent.url},${second.url}`, "--json", "apply", "clean", "--set", "down.delay=20parsecs", "--proxy", "pg"]).finally(() => second.stop());
  assert.equal(two.code, 2, two.stderr);
  const docs = JSON.parse(two.stdout) as { ok: boolean; usage?: boolean; error: string }[];
  assert.equal(docs.length, 2);
  for (const doc of docs) {
    assert.equal(doc.ok, false);
    assert.equal(doc.usage, true);
    assert.match(doc.error, /^--set down\.delay: /);
  }
});

test("proxy add with a name the agent refuses: exit 2 naming NAME and the value", async () => {
  const r = await runCli([...at, "proxy", "add", "bad name", "--listen", "127.0.0.1:0", "--upstream", echo.address]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /: NAME: .*"bad name"/);
  assert.doesNotMatch(r.stderr, /params\./);
  const bad = await runCli([...at, "proxy", "add", "pg2", "--listen", "127.0.0.1:0", "--upstream", echo.address, "--protocol", "smtp"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /: --protocol: .*"smtp"/);
});

test("apply --request the proxy cannot take: exit 2 naming the --request", async () => {
  const rule = "{match: {query: 1}, fail: {code: 1}}";
  const r = await runCli([...at, "apply", "clean", "--proxy", "pg", "--request", rule]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--request "\{match: \{query: 1\}, fail: \{code: 1\}\}": match\.query: /);
  assert.doesNotMatch(r.stderr, /params\./);
});

test("apply PATH.yaml with a bad field: exit 2, FILE:LINE: field: message", async () => {
  await writeFile(join(dir, "bad.yaml"), "# a train through tunnels\ndescription: slow train\nup:\n  delay: 20ms\ndown: {delay: soon}\n");
  const r = await runCli([...at, "apply", "bad.yaml", "--proxy", "pg"], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /: bad\.yaml:5: down\.delay: .*"soon"/);
  assert.doesNotMatch(r.stderr, /params\./);

  await writeFile(join(dir, "broken.yaml"), "up: {delay: 20ms}\ndown: {delay: 10ms\n");
  const y = await runCli([...at, "apply", "broken.yaml", "--proxy", "pg"], { cwd: dir });
  assert.equal(y.code, 2, y.stderr);
  assert.match(y.stderr, /^netimpair: broken\.yaml:\d+: not valid YAML/m);
  assert.equal(await impairment(), null);
});

test("apply PATH.yaml shows by the profile's name:, else by the file's base name (not custom)", async () => {
  await writeFile(join(dir, "train.yaml"), "up: {delay: 30ms}\ndown: {delay: 30ms}\n");
  const r = await runCli([...at, "apply", join(dir, "train.yaml"), "--proxy", "pg"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "pg: applied train.yaml");
  assert.equal((await impairment())?.profile, "train.yaml");
  const st = await runCli([...at, "status"]);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /\bpg\b.*\btrain\.yaml\b/);
  assert.doesNotMatch(st.stdout, /custom/);

  await writeFile(join(dir, "named.yaml"), "name: tunnel\ndown: {delay: 40ms}\n");
  const n = await runCli([...at, "apply", join(dir, "named.yaml"), "--proxy", "pg"]);
  assert.equal(n.code, 0, n.stderr);
  assert.equal(n.stdout.trim(), "pg: applied tunnel");
  assert.equal((await impairment())?.profile, "tunnel");
  assert.equal((await runCli([...at, "clear", "--proxy", "pg"])).code, 0);
});

test("agent state problems stay exit 1: an unknown profile or proxy is not a usage error", async () => {
  const p = await runCli([...at, "apply", "no-such-profile", "--proxy", "pg"]);
  assert.equal(p.code, 1, p.stderr);
  const x = await runCli([...at, "apply", "clean", "--proxy", "nope", "--set", "down.delay=20parsecs"]);
  assert.equal(x.code, 1, x.stderr);
  assert.match(x.stderr, /proxy "nope" not found/);
});
