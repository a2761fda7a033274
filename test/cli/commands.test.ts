// Every fleet command through the real binary against a real in-process agent, with the effect
// checked on real traffic through the proxy (an echo upstream).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type ControlClient } from "../../src/control/client.js";
import type { ApplyResult, ProxyInfo } from "../../src/control/protocol.js";
import { runCli, startEchoAgent, type EchoAgent } from "../support/cli.js";
import { dial, endOf, roundTrip, sleep } from "../support/net.js";

let ea: EchoAgent;
let lib: ControlClient;
let agentArgs: string[];

before(async () => {
  ea = await startEchoAgent();
  lib = await connect(ea.agent.url, { bindToSession: false });
  agentArgs = ["--agent", ea.agent.url];
});

after(async () => {
  await lib.close();
  await ea.close();
});

async function pg(): Promise<ProxyInfo> {
  const p = (await lib.proxies()).find((x) => x.name === "pg");
  assert.ok(p, "proxy pg exists");
  return p;
}

test("apply clean --set down.delay=200ms slows a round trip to >= 190 ms; clear restores it", async () => {
  const s = await dial(ea.proxyPort);
  try {
    const clean = await roundTrip(s);
    assert.ok(clean < 150, `clean round trip ${clean} ms`);
    const r = await runCli([...agentArgs, "apply", "clean", "--proxy", "pg", "--set", "down.delay=200ms"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pg: applied clean/m);
    // a connection that was already open is slowed too
    const slow = await roundTrip(s);
    assert.ok(slow >= 190, `impaired round trip ${slow} ms`);
    assert.ok(slow < 2000, `impaired round trip ${slow} ms`);
    const c = await runCli(["clear", "--proxy", "pg", ...agentArgs]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout.trim(), "pg: cleared, removed profile clean");
    assert.equal((await pg()).impairment, null);
    const again = await roundTrip(s);
    assert.ok(again < 150, `cleared round trip ${again} ms`);
  } finally {
    s.destroy();
  }
});

test("apply --json prints the applied results; --for reverts; --percent and --client reach the agent", async () => {
  const r = await runCli(["--json", ...agentArgs, "apply", "slow-3g", "--proxy", "pg", "--for", "1s", "--percent", "40", "--client", "127.0.0.0/8"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as ApplyResult[];
  assert.equal(doc.length, 1);
  assert.equal(doc[0]!.proxy, "pg");
  assert.equal(doc[0]!.profile, "slow-3g");
  assert.equal(doc[0]!.spec.down.bandwidth, 400_000);
  assert.ok(doc[0]!.expiresAt !== null);
  const imp = (await pg()).impairment;
  assert.ok(imp);
  assert.equal(imp.profile, "slow-3g");
  assert.equal(imp.percent, 40);
  assert.deepEqual(imp.clients, ["127.0.0.0/8"]);
  // the CLI's apply is not bound to its session: it outlived the CLI process; the ttl ends it
  const deadline = Date.now() + 5000;
  while ((await pg()).impairment !== null && Date.now() < deadline) await sleep(100);
  assert.equal((await pg()).impairment, null, "reverted after --for 1s");
});

test("apply PROFILE.yaml sends the file as an inline spec", async () => {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-apply-"));
  const s = await dial(ea.proxyPort);
  try {
    const file = join(dir, "train.yaml");
    await writeFile(file, "description: slow train\nup: {delay: 120ms}\ndown: {delay: 120ms}\n");
    const r = await runCli([...agentArgs, "apply", file, "--proxy", "pg"]);
    assert.equal(r.code, 0, r.stderr);
    const imp = (await pg()).impairment;
    assert.ok(imp);
    assert.equal(imp.spec.up.delay, 120);
    assert.equal(imp.spec.down.delay, 120);
    const rt = await roundTrip(s);
    assert.ok(rt >= 230, `round trip ${rt} ms with 120 ms each way`);
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "down: {delay: soon}\n");
    const b = await runCli([...agentArgs, "apply", bad, "--proxy", "pg"]);
    assert.equal(b.code, 2, "a bad profile file is a usage error");
    assert.ok(b.stderr.includes(`${bad}:1: down.delay: `), b.stderr);
    assert.match(b.stderr, /"soon"/);
  } finally {
    s.destroy();
    await lib.clear("pg");
    await rm(dir, { recursive: true, force: true });
  }
});

test("agent-side errors are reported per agent: exit 1, or 2 for a value the agent refuses", async () => {
  const nf = await runCli([...agentArgs, "apply", "no-such-profile", "--proxy", "pg"]);
  assert.equal(nf.code, 1);
  assert.match(nf.stderr, new RegExp(`^${ea.agent.url}: .*no-such-profile.*not found`, "m"));
  const np = await runCli([...agentArgs, "clear", "--proxy", "nope"]);
  assert.equal(np.code, 1);
  assert.match(np.stderr, /proxy "nope" not found/);
  // a value the agent refuses is a usage error naming the flag (exit 2)
  const bs = await runCli([...agentArgs, "apply", "clean", "--proxy", "pg", "--set", "down.delay=fast"]);
  assert.equal(bs.code, 2);
  assert.match(bs.stderr, /--set down\.delay: .*"fast"/);
  assert.equal((await pg()).impairment, null);
});

test("status shows the impairment, the connections and live throughput", async () => {
  await lib.apply("pg", "clean", { set: { "up.delay": "5ms" } });
  const s = await dial(ea.proxyPort);
  let pumping = true;
  const pump = (async () => {
    while (pumping) await roundTrip(s, 16 * 1024);
  })();
  try {
    const r = await runCli([...agentArgs, "status"]);
    assert.equal(r.code, 0, r.stderr);
    const row = r.stdout.split("\n").find((l) => l.includes(" pg "));
    assert.ok(row, r.stdout);
    assert.match(row, /127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+\s+yes\s+clean \(set up\.delay=5ms\)\s+1\s+\S+bps\s+\S+bps/);
    const j = await runCli(["status", "--json", ...agentArgs]);
    assert.equal(j.code, 0, j.stderr);
    const doc = JSON.parse(j.stdout) as (ProxyInfo & { throughputUp: number; throughputDown: number })[];
    const p = doc.find((x) => x.name === "pg");
    assert.ok(p);
    assert.equal(p.stats.connectionsActive, 1);
    // 16 KiB per round trip of >= 5 ms: at most ~3.3 MB/s each way; surely more than 10 KB/s
    assert.ok(p.throughputUp > 10_000, `throughputUp ${p.throughputUp}`);
    assert.ok(p.throughputDown > 10_000, `throughputDown ${p.throughputDown}`);
    assert.ok(p.throughputUp < 4_000_000, `throughputUp ${p.throughputUp}`);
  } finally {
    pumping = false;
    await pump.catch(() => undefined);
    s.destroy();
    await lib.clear("pg");
  }
});

test("watch refreshes the table (--count) and reports rates from the second refresh", async () => {
  const r = await runCli([...agentArgs, "watch", "--count", "2", "--interval", "300ms"]);
  assert.equal(r.code, 0, r.stderr);
  const tables = r.stdout.split(/\n(?=\d{4}-\d\d-\d\d )/);
  assert.equal(tables.length, 2, r.stdout);
  assert.match(tables[0]!, /\bpg\b.*\s-\s+-\s*$/m);
  assert.match(tables[1]!, /\bpg\b.*bps\s+\S*bps\s*$/m);
});

test("proxy add / ls / update / rm drive real listeners", async () => {
  const add = await runCli(["--json", ...agentArgs, "proxy", "add", "extra", "--listen", "127.0.0.1:0", "--upstream", ea.echo.address]);
  assert.equal(add.code, 0, add.stderr);
  const created = JSON.parse(add.stdout) as ProxyInfo;
  const port = Number(created.listen.split(":").pop());
  assert.ok(port > 0);
  const s = await dial(port);
  try {
    assert.ok((await roundTrip(s)) < 1000);
  } finally {
    s.destroy();
  }
  const ls = await runCli([...agentArgs, "proxy", "ls"]);
  assert.equal(ls.code, 0);
  assert.match(ls.stdout, new RegExp(`extra\\s+127\\.0\\.0\\.1:${port} -> ${ea.echo.address}\\s+yes`));
  const dup = await runCli([...agentArgs, "proxy", "add", "extra", "--listen", "127.0.0.1:0", "--upstream", ea.echo.address]);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /extra.*already exists/);
  const dis = await runCli([...agentArgs, "proxy", "update", "extra", "--disable"]);
  assert.equal(dis.code, 0, dis.stderr);
  await assert.rejects(dial(port), /ECONNREFUSED/);
  const rmr = await runCli([...agentArgs, "proxy", "rm", "extra"]);
  assert.equal(rmr.code, 0, rmr.stderr);
  assert.equal(rmr.stdout.trim(), "extra: removed");
  assert.ok(!(await lib.proxies()).some((p) => p.name === "extra"));
});

test("profiles ls and show", async () => {
  const ls = await runCli([...agentArgs, "profiles", "ls"]);
  assert.equal(ls.code, 0, ls.stderr);
  for (const name of ["2g", "3g", "4g", "slow-3g", "fast-3g", "clean", "blackhole"]) assert.match(ls.stdout, new RegExp(`^${name}\\s`, "m"));
  const show = await runCli([...agentArgs, "profiles", "show", "slow-3g"]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^name: slow-3g$/m);
  assert.match(show.stdout, /bandwidth: 400kbps/);
  assert.match(show.stdout, /delay: 200ms/);
  const json = await runCli([...agentArgs, "--json", "profiles", "show", "3g"]);
  const p = JSON.parse(json.stdout) as { name: string; spec: { down: { bandwidth: number } } };
  assert.equal(p.name, "3g");
  assert.equal(p.spec.down.bandwidth, 1_000_000);
  const missing = await runCli([...agentArgs, "profiles", "show", "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope.*not found/);
});

test("reset --proxy sends RST to live connections, --conn to one", async () => {
  const a = await dial(ea.proxyPort);
  const b = await dial(ea.proxyPort);
  try {
    await roundTrip(a);
    await roundTrip(b);
    const conns = await lib.connections("pg");
    assert.equal(conns.length, 2);
    const endA = endOf(a);
    const one = await runCli([...agentArgs, "reset", "--proxy", "pg", "--conn", conns[0]!.id]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout.trim(), "pg: reset 1 connection");
    const endedA = await Promise.race([endA, endOf(b)]);
    assert.equal(endedA, "reset");
    assert.equal((await lib.connections("pg")).length, 1);
    const all = await runCli([...agentArgs, "reset", "--proxy", "pg"]);
    assert.equal(all.stdout.trim(), "pg: reset 1 connection");
  } finally {
    a.destroy();
    b.destroy();
  }
});

test("panic clears every proxy", async () => {
  await lib.apply("pg", "3g", { ttl: "1m" });
  const r = await runCli([...agentArgs, "panic"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /panic: removed profile \S+ from pg/);
  assert.equal((await pg()).impairment, null);
});
