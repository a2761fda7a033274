// A manual `netimpair reset` is a reset fault like any other (faults_total, the close line), and
// a deleted proxy's metric series go with it (a proxy created again counts from 0).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../../src/control/client.js";
import { runCli } from "../support/cli.js";
import { startCliAgent } from "../support/cli-agent.js";
import { dial, echoServer, endOf, roundTrip } from "../support/net.js";

test("netimpair reset counts in faults_total and the close line; a deleted proxy's series are dropped", async () => {
  const echo = await echoServer();
  const agent = await startCliAgent(["--proxy", `pg=127.0.0.1:0,${echo.address}`]);
  const ctl = await connect(agent.url, { bindToSession: false });
  try {
    const [pg] = await ctl.proxies();
    const s = await dial(Number(pg!.listen.split(":").pop()));
    await roundTrip(s, 1000);
    const [conn] = await ctl.connections("pg");
    const ended = endOf(s, 5000);
    const r = await runCli(["--agent", agent.url, "reset", "--proxy", "pg", "--conn", conn!.id]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await ended, "reset");
    const close = await agent.waitForLog((l) => l.event === "connection.close" && l.conn === conn!.id);
    assert.deepEqual(close.faults, ["reset"]);
    let metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
    assert.match(metrics, /netimpair_faults_total\{proxy="pg",fault="reset"\} 1\n/);
    assert.match(metrics, /netimpair_bytes_total\{proxy="pg",direction="up"\} 1000\n/);

    const rm = await runCli(["--agent", agent.url, "proxy", "rm", "pg"]);
    assert.equal(rm.code, 0, rm.stderr);
    metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
    assert.doesNotMatch(metrics, /proxy="pg"/, "no series of the deleted proxy is left");
    const add = await runCli(["--agent", agent.url, "proxy", "add", "pg", "--listen", "127.0.0.1:0", "--upstream", echo.address]);
    assert.equal(add.code, 0, add.stderr);
    metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
    assert.match(metrics, /netimpair_connections_total\{proxy="pg"\} 0\n/, "the new proxy counts from 0");
  } finally {
    await ctl.close();
    await agent.stop();
    await echo.close();
  }
});
