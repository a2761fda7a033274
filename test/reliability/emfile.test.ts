// Out of file descriptors: an agent started with a low open-file limit is driven past it by
// client connections. EMFILE must cost only the connections that could not be served: the agent
// keeps running, its open control connection keeps answering, and once clients go it serves
// new connections again with its fds back where they were.
import { test } from "node:test";
import assert from "node:assert/strict";
import net, { type Socket } from "node:net";
import { connect } from "../../src/index.js";
import { spawnAgent } from "../support/agent-process.js";
import { churn, eventually } from "../support/churn.js";
import { echoServer } from "../support/net.js";

const FD_LIMIT = 256;

test("fd exhaustion (EMFILE) in the agent is survived and recovered from", { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  const agent = await spawnAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] }, { fdLimit: FD_LIMIT });
  const held: Socket[] = [];
  try {
    const ctl = await connect(agent.url, { bindToSession: false, timeoutMs: 5000 });
    const warm = await churn({ port: agent.port("pg"), total: 50, concurrency: 10 });
    assert.equal(warm.outcomes.ok, 50);
    const before = await agent.probe();

    // each relayed connection costs the agent two fds: 400 clients need 800 of its 256
    for (let i = 0; i < 400; i++) {
      const s = net.connect({ host: "127.0.0.1", port: agent.port("pg") });
      s.on("error", () => {});
      s.on("connect", () => s.write("x"));
      held.push(s);
    }
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(agent.child.exitCode, null, "the agent is alive at its fd limit");
    const info = await ctl.info();
    assert.equal(info.proxies.length, 1, "its open control connection still answers");
    const during = info.proxies[0]!.stats.connectionsActive;
    assert.ok(during < 400, `not every connection could be served (${during} active)`);

    for (const s of held) s.destroy();
    assert.ok(await eventually(async () => (await ctl.info()).proxies[0]!.stats.connectionsActive === 0, 15_000), "the served ones close");
    const after = await churn({ port: agent.port("pg"), total: 200, concurrency: 20 });
    assert.equal(after.outcomes.ok, 200, `new connections are served again: ${JSON.stringify(after.outcomes)}`);
    assert.ok(await eventually(async () => (await agent.probe()).fds <= before.fds, 5000), "fds back where they were");
    console.log(`emfile: limit ${FD_LIMIT}, 400 clients, ${during} served at the limit; fds ${before.fds} -> ${(await agent.probe()).fds}`);
    await ctl.close();
    assert.equal(agent.stderr(), "", "nothing on the agent's stderr");
  } finally {
    for (const s of held) s.destroy();
    await agent.stop();
    await echo.close();
  }
});
