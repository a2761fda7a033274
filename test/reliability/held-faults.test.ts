// What connect.delay, slowClose and a half-open while dialling hold, against an agent in its own
// process (docs/reliability.md "Where features meet"): a clear, a panic or removing the Toxiproxy
// toxic lets go at once, as it does for stalls and rate-0 links; a half-open applied while the
// upstream is still being dialled stays silent until its hold, never a connect-timeout reset.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type ControlClient } from "../../src/index.js";
import { spawnAgent, type AgentProcess } from "../support/agent-process.js";
import { dial, echoServer, endOf, readBytes, sleep, startServer, type Peer } from "../support/net.js";
import { blackHoleUpstream } from "../support/black-hole.js";
import { call } from "../toxiproxy/harness.js";

async function lab(fn: (agent: AgentProcess, ctl: ControlClient, echo: Peer) => Promise<void>, upstream?: string): Promise<void> {
  const echo = await echoServer();
  const agent = await spawnAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: upstream ?? echo.address }] });
  const ctl = await connect(agent.url, { bindToSession: false });
  try {
    await fn(agent, ctl, echo);
  } finally {
    await ctl.close();
    await agent.stop();
    await echo.close();
  }
}

/** ms from now until the echo of a write comes back. */
async function echoAfter(agent: AgentProcess, release: () => Promise<unknown>): Promise<number> {
  const s = await dial(agent.port("pg"));
  try {
    const got = readBytes(s, 5, 15_000);
    s.write("hello");
    await sleep(300); // the dial is being held
    const t = performance.now();
    await release();
    const bytes = await got;
    assert.equal(bytes.toString(), "hello");
    return performance.now() - t;
  } finally {
    s.destroy();
  }
}

for (const how of ["clear", "panic", "apply clean"] as const) {
  test(`${how} lets go of a connect.delay of 30 s at once`, { timeout: 30_000 }, async () => {
    await lab(async (agent, ctl) => {
      await ctl.apply("pg", "clean", { set: { "connect.delay": "30s" } });
      const ms = await echoAfter(agent, () => (how === "clear" ? ctl.clear("pg") : how === "panic" ? ctl.panic() : ctl.apply("pg", "clean")));
      console.log(`${how}: echo ${ms.toFixed(1)} ms after it, under connect.delay 30s`);
      assert.ok(ms < 1000, `the held dial went ahead at once (${ms.toFixed(0)} ms)`);
    });
  });
}

test("removing a Toxiproxy connect toxic lets go of its delay at once; a ramp-like re-apply keeps the first deadline", { timeout: 30_000 }, async () => {
  await lab(async (agent, ctl) => {
    const added = await call(agent.httpUrl, "POST", "/proxies/pg/toxics", { name: "slowdial", type: "connect", attributes: { delay: 30_000 } });
    assert.equal(added.status, 200, added.text);
    const ms = await echoAfter(agent, () => call(agent.httpUrl, "DELETE", "/proxies/pg/toxics/slowdial"));
    assert.ok(ms < 1000, `the toxic's removal released the dial (${ms.toFixed(0)} ms)`);

    // a re-apply that still asks for the delay does not restart it
    await ctl.apply("pg", "clean", { set: { "connect.delay": "1500ms" } });
    const s = await dial(agent.port("pg"));
    const t = performance.now();
    const got = readBytes(s, 2, 10_000);
    s.write("hi");
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      await ctl.apply("pg", "clean", { set: { "connect.delay": "1500ms", "down.delay": `${i + 1}ms` } });
    }
    await got;
    const waited = performance.now() - t;
    assert.ok(waited > 1300 && waited < 2500, `the delay kept its first deadline (${waited.toFixed(0)} ms)`);
    s.destroy();
  });
});

for (const how of ["clear", "panic"] as const) {
  test(`${how} passes on a FIN that slowClose of 20 s is holding at once`, { timeout: 30_000 }, async () => {
    // an upstream that sends a greeting, then closes: its FIN is what slowClose holds back
    const closer = await startServer((s) => {
      s.end("bye");
    });
    try {
      await lab(async (agent, ctl) => {
        await ctl.apply("pg", "clean", { set: { "slowClose.delay": "20s" } });
        const s = await dial(agent.port("pg"));
        const ended = endOf(s, 15_000);
        await sleep(500);
        const t = performance.now();
        if (how === "clear") await ctl.clear("pg");
        else await ctl.panic();
        assert.equal(await ended, "end", "the client got its FIN");
        const ms = performance.now() - t;
        console.log(`${how}: FIN ${ms.toFixed(1)} ms after it, under slowClose 20s`);
        assert.ok(ms < 1000, `the held FIN went on at once (${ms.toFixed(0)} ms)`);
        s.destroy();
      }, closer.address);
    } finally {
      await closer.close();
    }
  });
}

test("half-open applied while the upstream is still dialling stays silent until its hold", { timeout: 60_000 }, async () => {
  const hole = await blackHoleUpstream();
  try {
    await lab(async (agent, ctl) => {
      const s = await dial(agent.port("pg"));
      const ended = endOf(s, 25_000);
      await sleep(300); // the dial is in progress (the upstream drops SYNs)
      await ctl.apply("pg", "clean", { set: { "halfOpen.after": "0s", "halfOpen.hold": "13s" } });
      const t = performance.now();
      const how = await ended;
      const ms = performance.now() - t;
      const info = (await ctl.info()).proxies[0]!;
      assert.equal(info.stats.faults.half_open, 1);
      assert.equal(how, "reset", "the hold ends it with a reset");
      assert.ok(ms > 12_000, `silent until the hold of 13 s, not reset by the 10 s connect timeout (ended after ${ms.toFixed(0)} ms)`);
    }, hole.address);
  } finally {
    await hole.close();
  }
});
