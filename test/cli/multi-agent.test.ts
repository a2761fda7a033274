// Fan-out to several real agents (plus an unreachable one), and tokens: --token,
// NETIMPAIR_TOKEN and an inventory's per-agent tokenFile.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../../src/control/client.js";
import type { ProxyInfo } from "../../src/control/protocol.js";
import { closedPort, runCli, startEchoAgent } from "../support/cli.js";
import { dial, roundTrip, startServer } from "../support/net.js";

interface Outcome {
  agent: string;
  url: string;
  ok: boolean;
  result?: unknown;
  error?: string;
}

test("apply fans out to two agents and reports the unreachable third (exit 1)", async () => {
  const a = await startEchoAgent();
  const b = await startEchoAgent();
  const dead = `ws://127.0.0.1:${await closedPort()}/control`;
  try {
    const r = await runCli(["apply", "clean", "--all", "--set", "down.delay=150ms", "--agent", `${a.agent.url},${dead}`, "--agent", b.agent.url]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `${dead}: connection refused`);
    assert.match(r.stdout, new RegExp(`^${a.agent.url}: pg: applied clean`, "m"));
    assert.match(r.stdout, new RegExp(`^${b.agent.url}: pg: applied clean`, "m"));
    for (const ea of [a, b]) {
      const s = await dial(ea.proxyPort);
      try {
        const rt = await roundTrip(s);
        assert.ok(rt >= 140, `round trip through ${ea.agent.url}: ${rt} ms`);
      } finally {
        s.destroy();
      }
    }
    // status: one table across agents, and --json an array of {agent, url, ok, result | error}
    const st = await runCli(["status", "--agent", a.agent.url, "--agent", b.agent.url, "--agent", dead]);
    assert.equal(st.code, 1);
    const rows = st.stdout.split("\n").filter((l) => / pg /.test(l));
    assert.equal(rows.length, 2, st.stdout);
    assert.ok(rows[0]!.startsWith(a.agent.url) && rows[1]!.startsWith(b.agent.url), st.stdout);
    const js = await runCli(["--json", "clear", "--agent", a.agent.url, "--agent", dead, "--agent", b.agent.url]);
    assert.equal(js.code, 1);
    const doc = JSON.parse(js.stdout) as Outcome[];
    assert.deepEqual(
      doc.map((o) => [o.url, o.ok]),
      [
        [a.agent.url, true],
        [dead, false],
        [b.agent.url, true],
      ],
    );
    assert.deepEqual((doc[0]!.result as { cleared: string[] }).cleared, ["pg"]);
    assert.equal(doc[1]!.error, "connection refused");
    assert.equal(a.agent.agent.listProxies()[0]!.impairment, null);
    assert.equal(b.agent.agent.listProxies()[0]!.impairment, null);
  } finally {
    await a.close();
    await b.close();
  }
});

test("panic reaches every agent in parallel; a slow agent does not hold up the others past --timeout", async () => {
  const agents = await Promise.all([startEchoAgent(), startEchoAgent(), startEchoAgent()]);
  // accepts TCP but never answers the WebSocket handshake
  const silent = await startServer(() => {});
  try {
    for (const ea of agents) {
      const c = await connect(ea.agent.url, { bindToSession: false });
      await c.apply("pg", "3g", { ttl: "5m" });
      await c.close();
    }
    const silentUrl = `ws://${silent.address}/control`;
    const urls = [agents[0]!.agent.url, silentUrl, agents[1]!.agent.url, agents[2]!.agent.url];
    const r = await runCli(["--json", "--timeout", "1500ms", "panic", ...urls.flatMap((u) => ["--agent", u])]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim(), `${silentUrl}: timed out after 1500ms`);
    assert.ok(r.elapsedMs < 10_000, `took ${r.elapsedMs} ms`);
    const doc = JSON.parse(r.stdout) as Outcome[];
    assert.deepEqual(doc.map((o) => [o.url, o.ok]), urls.map((u) => [u, u !== silentUrl]));
    for (const o of doc) if (o.ok) assert.deepEqual((o.result as { cleared: string[] }).cleared, ["pg"]);
    for (const ea of agents) assert.equal(ea.agent.agent.listProxies()[0]!.impairment, null);
  } finally {
    await Promise.all(agents.map((ea) => ea.close()));
    await silent.close();
  }
});

test("tokens: --token, NETIMPAIR_TOKEN, and per-agent tokenFile from the inventory", async () => {
  const a = await startEchoAgent({ token: "alpha-secret", labels: { team: "x" } });
  const b = await startEchoAgent({ token: "bravo-secret" });
  const dir = await mkdtemp(join(tmpdir(), "netimpair-token-"));
  try {
    const none = await runCli(["--agent", a.agent.url, "proxy", "ls"]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr.trim(), `${a.agent.url}: 401 unauthorized (the agent needs a token)`);
    const wrong = await runCli(["--agent", a.agent.url, "--token", "bravo-secret", "proxy", "ls"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401 unauthorized \(the token was not accepted\)/);
    const flag = await runCli(["--agent", a.agent.url, "--token", "alpha-secret", "--json", "proxy", "ls"]);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal((JSON.parse(flag.stdout) as ProxyInfo[])[0]!.name, "pg");
    const env = await runCli(["--agent", b.agent.url, "proxy", "ls"], { env: { NETIMPAIR_TOKEN: "bravo-secret" } });
    assert.equal(env.code, 0, env.stderr);

    await writeFile(join(dir, "a.token"), "alpha-secret\n");
    await writeFile(join(dir, "b.token"), "  bravo-secret  \n");
    await chmod(join(dir, "a.token"), 0o600);
    const inv = join(dir, "agents.yaml");
    await writeFile(
      inv,
      `agents:\n  - {name: alpha, url: "${a.agent.url}", tokenFile: a.token, labels: {env: test}}\n  - {name: bravo, url: "${b.agent.url}", tokenFile: ${join(dir, "b.token")}, labels: {env: test}}\n`,
    );
    const both = await runCli(["--agents", inv, "--select", "env=test", "--json", "apply", "4g", "--all"]);
    assert.equal(both.code, 0, both.stderr);
    const doc = JSON.parse(both.stdout) as Outcome[];
    assert.deepEqual(
      doc.map((o) => [o.agent, o.ok]),
      [
        ["alpha", true],
        ["bravo", true],
      ],
    );
    assert.equal(a.agent.agent.listProxies()[0]!.impairment?.profile, "4g");
    assert.equal(b.agent.agent.listProxies()[0]!.impairment?.profile, "4g");
    // status names inventory agents by name
    const st = await runCli(["--agents", inv, "status"]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^alpha\s+pg\s.*\s4g\s/m);
    assert.match(st.stdout, /^bravo\s+pg\s.*\s4g\s/m);
  } finally {
    await a.close();
    await b.close();
    await rm(dir, { recursive: true, force: true });
  }
});
