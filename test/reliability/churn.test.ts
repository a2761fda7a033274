// Churn: 100,000 short connections through an agent running in its own process, clean and
// with faults (resets, refusals, half-open with a hold limit, an upstream that refuses). After
// it the agent's open fds and live timers are back to where they started, and its RSS has grown
// by no more than a small bound.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type ControlClient } from "../../src/index.js";
import { spawnAgent, MiB, type ChildProbe } from "../support/agent-process.js";
import { churn, eventually, type ChurnResult } from "../support/churn.js";
import { echoServer } from "../support/net.js";
import { closedPort } from "../support/cli.js";

const CONCURRENCY = 200;
const RSS_GROWTH_BOUND = 48 * MiB;

function line(name: string, r: ChurnResult): string {
  const o = Object.entries(r.outcomes)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`)
    .join(" ");
  return `${name}: ${r.total} connections in ${(r.elapsedMs / 1000).toFixed(1)} s (${r.perSecond}/s) ${o}`;
}

test("100,000 connections, clean and faulted: no fd, timer or memory leak in the agent", { timeout: 240_000 }, async () => {
  const echo = await echoServer();
  const deadPort = await closedPort();
  const agent = await spawnAgent({
    proxies: [
      { name: "clean", listen: "127.0.0.1:0", upstream: echo.address },
      { name: "faulty", listen: "127.0.0.1:0", upstream: echo.address },
      { name: "refusing", listen: "127.0.0.1:0", upstream: `127.0.0.1:${deadPort}` },
    ],
  });
  let ctl: ControlClient | null = null;
  try {
    ctl = await connect(agent.url, { bindToSession: false });
    const idle = async (): Promise<boolean> => (await ctl!.info()).proxies.every((p) => p.stats.connectionsActive === 0);
    // warm up: first-use allocations (JIT, pools) belong to neither side of the comparison
    await churn({ port: agent.port("clean"), total: 2000, concurrency: CONCURRENCY });
    assert.ok(await eventually(idle), "connections still open after the warm-up");
    const before: ChildProbe = await agent.probe();

    const results: string[] = [];
    const clean = await churn({ port: agent.port("clean"), total: 50_000, concurrency: CONCURRENCY });
    results.push(line("clean", clean));
    assert.equal(clean.outcomes.ok, 50_000, `every clean connection echoes its bytes: ${JSON.stringify(clean)}`);

    await ctl.apply("faulty", "clean", { set: { "reset.probability": "50%" } });
    const reset = await churn({ port: agent.port("faulty"), total: 12_500, concurrency: CONCURRENCY });
    results.push(line("reset 50%", reset));
    assert.equal(reset.outcomes.mismatch, 0);
    assert.equal(reset.outcomes.ok + reset.outcomes.reset + reset.outcomes.closed, 12_500, JSON.stringify(reset));
    assert.ok(reset.outcomes.reset > 4000 && reset.outcomes.ok > 4000, `about half reset: ${JSON.stringify(reset.outcomes)}`);

    await ctl.apply("faulty", "clean", { set: { "connect.refuse": "50%" } });
    const refuse = await churn({ port: agent.port("faulty"), total: 12_500, concurrency: CONCURRENCY });
    results.push(line("refuse 50%", refuse));
    assert.equal(refuse.outcomes.mismatch, 0);
    assert.ok(refuse.outcomes.reset + refuse.outcomes.closed > 4000 && refuse.outcomes.ok > 4000, `about half refused: ${JSON.stringify(refuse.outcomes)}`);

    await ctl.apply("faulty", "clean", { set: { "halfOpen.probability": "50%", "halfOpen.hold": "100ms" } });
    const half = await churn({ port: agent.port("faulty"), total: 10_000, concurrency: CONCURRENCY, timeoutMs: 10_000 });
    results.push(line("half-open 50% hold 100ms", half));
    assert.equal(half.outcomes.mismatch, 0);
    assert.equal(half.outcomes.timeout, 0, "the hold limit ends every half-open connection");
    assert.ok(half.outcomes.reset > 3000 && half.outcomes.ok > 3000, `about half held then reset: ${JSON.stringify(half.outcomes)}`);
    await ctl.clear("faulty");

    const refused = await churn({ port: agent.port("refusing"), total: 15_000, concurrency: CONCURRENCY });
    results.push(line("upstream refuses", refused));
    assert.equal(refused.outcomes.ok, 0);
    assert.equal(refused.outcomes.reset + refused.outcomes.closed, 15_000, `every client of a refusing upstream is reset: ${JSON.stringify(refused.outcomes)}`);

    assert.ok(await eventually(idle, 15_000), "every connection closed in the agent");
    // the last sockets' handles close on the next turns of the agent's loop
    let after: ChildProbe = await agent.probe();
    await eventually(async () => {
      after = await agent.probe();
      return after.fds <= before.fds && after.timers <= before.timers;
    }, 5000);
    const total = 2000 + clean.total + reset.total + refuse.total + half.total + refused.total;
    const report = {
      connections: total,
      fds: [before.fds, after.fds],
      timers: [before.timers, after.timers],
      rssMiB: [before.rssBytes / MiB, after.rssBytes / MiB].map((n) => Math.round(n * 10) / 10),
      heapMiB: [before.heapUsedBytes / MiB, after.heapUsedBytes / MiB].map((n) => Math.round(n * 10) / 10),
    };
    console.log(`churn\n  ${results.join("\n  ")}\n  ${JSON.stringify(report)}`);
    assert.ok(total >= 100_000);
    assert.equal(after.fds, before.fds, `agent fds back to the start: ${JSON.stringify(report)}`);
    assert.equal(after.timers, before.timers, `no timer left behind: ${JSON.stringify(report)} ${after.timerStacks?.join("\n\n") ?? "(AGENT_CHILD_TIMER_STACKS=1 shows where they were made)"}`);
    assert.ok(after.rssBytes - before.rssBytes < RSS_GROWTH_BOUND, `RSS grew by less than ${RSS_GROWTH_BOUND / MiB} MiB: ${JSON.stringify(report)}`);
    assert.ok(after.heapUsedBytes - before.heapUsedBytes < 8 * MiB, `heap back near its start: ${JSON.stringify(report)}`);
  } finally {
    await ctl?.close();
    await agent.stop();
    await echo.close();
  }
});
