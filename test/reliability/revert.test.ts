// Where features meet, the impairment book's reverts (docs/reliability.md "Where features meet"),
// against an agent in its own process: a closing session goes straight back to what it returns
// to (never through its older applies, and with one change per proxy, not one per entry), a
// Toxiproxy listen change keeps each impairment's owner, ttl and revert target, and 100,000
// applies leave the heap where it was (the history keeps only what a revert can still reach).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { connect, type ControlClient } from "../../src/index.js";
import { spawnAgent, MiB, type AgentProcess } from "../support/agent-process.js";
import { dial, echoServer, roundTrip, sleep, type Peer } from "../support/net.js";
import { closedPort } from "../support/cli.js";
import { call, portOf } from "../toxiproxy/harness.js";

/** A generous request rate, so a test can drive thousands of applies quickly. */
const FAST = { perSecond: 1_000_000, burst: 1_000_000 };

async function withAgent(fn: (agent: AgentProcess, echo: Peer) => Promise<void>, opts: { fast?: boolean } = {}): Promise<void> {
  const echo = await echoServer();
  const agent = await spawnAgent({
    proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }],
    ...(opts.fast ? { rateLimit: FAST } : {}),
  });
  try {
    await fn(agent, echo);
  } finally {
    await agent.stop();
    await echo.close();
  }
}

/** ms for a round trip, or null when none came back within `timeoutMs` (the connection went silent). */
async function answers(s: Socket, timeoutMs = 3000): Promise<number | null> {
  return Promise.race([roundTrip(s, 32).catch(() => null), sleep(timeoutMs).then(() => null)]);
}

test("closing a session goes straight back: a connection opened under its last apply keeps answering", { timeout: 60_000 }, async () => {
  await withAgent(async (agent) => {
    const watcher = await connect(agent.url, { bindToSession: false });
    const session = await connect(agent.url, { bindToSession: true });
    try {
      // partition-then-heal, as a run does it: blackhole, then what was there before (clean)
      await session.apply("pg", "blackhole");
      await session.apply("pg", "3g");
      const s = await dial(agent.port("pg"));
      assert.notEqual(await answers(s), null, "a connection opened under 3g answers");
      await session.close();
      // the revert reaches the proxy, and the live connection was never half-opened on the way
      for (let i = 0; i < 50 && (await watcher.info()).proxies[0]!.impairment !== null; i++) await sleep(20);
      assert.equal((await watcher.info()).proxies[0]!.impairment, null, "the proxy is clean after the session closed");
      const rt = await answers(s);
      assert.notEqual(rt, null, "the connection still answers after the revert (it was not walked through blackhole)");
      const conns = await watcher.connections("pg");
      assert.equal(conns.length, 1);
      const stats = (await watcher.info()).proxies[0]!.stats;
      assert.equal(stats.faults.half_open, 0, "no half-open fault fired on the way back");
      s.destroy();
    } finally {
      await session.close();
      await watcher.close();
    }
  });
});

test("a run's partition-then-heal leaves its clients' live connections answering", { timeout: 60_000 }, async () => {
  await withAgent(async (agent) => {
    const watcher = await connect(agent.url, { bindToSession: false });
    const run = await connect(agent.url, { bindToSession: true });
    try {
      await run.apply("pg", "partition"); // step: partition
      await run.apply("pg", "clean"); // the step's `for` ended: back to what was before (bound)
      const s = await dial(agent.port("pg"));
      assert.notEqual(await answers(s), null);
      await run.close(); // the run ends
      await sleep(200);
      assert.notEqual(await answers(s), null, "the healed connection answers after the run closed its session");
      assert.equal((await watcher.info()).proxies[0]!.stats.faults.half_open, 0);
      s.destroy();
    } finally {
      await run.close();
      await watcher.close();
    }
  });
});

test("8,000 bound applies over 300 live connections, then a close: another client's agent.info stays quick", { timeout: 120_000 }, async () => {
  await withAgent(async (agent) => {
    const sockets: Socket[] = [];
    for (let i = 0; i < 300; i++) sockets.push(await dial(agent.port("pg")));
    const other = await connect(agent.url, { bindToSession: false });
    const session = await connect(agent.url, { bindToSession: true, timeoutMs: 30_000 });
    try {
      const profiles = ["3g", "4g", "2g", "edge"];
      for (let i = 0; i < 8000; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => session.apply("pg", profiles[(i + j) % profiles.length])));
      }
      await sleep(200);
      const latencies: number[] = [];
      const probing = (async () => {
        for (let i = 0; i < 20; i++) {
          const t = performance.now();
          await other.info();
          latencies.push(performance.now() - t);
          await sleep(10);
        }
      })();
      await sleep(20);
      await session.close();
      await probing;
      const worst = Math.max(...latencies);
      console.log(`agent.info during the revert of 8,000 bound applies over 300 connections: worst ${worst.toFixed(1)} ms`);
      assert.ok(worst < 200, `agent.info answered within 200 ms during the revert (worst ${worst.toFixed(1)} ms)`);
      assert.equal((await other.info()).proxies[0]!.impairment, null);
    } finally {
      for (const s of sockets) s.destroy();
      await session.close();
      await other.close();
    }
  }, { fast: true });
});

test("a Toxiproxy listen change keeps the impairment's session, ttl and revert target", { timeout: 60_000 }, async () => {
  await withAgent(async (agent) => {
    const admin = await connect(agent.url, { bindToSession: false });
    const session = await connect(agent.url, { bindToSession: true });
    try {
      await admin.apply("pg", "4g"); // what the session's apply must return to
      await session.apply("pg", "3g");
      const moveTo = await closedPort();
      const moved = await call(agent.httpUrl, "POST", "/proxies/pg", { listen: `127.0.0.1:${moveTo}` });
      assert.equal(moved.status, 200, moved.text);
      assert.equal(portOf((moved.json as { listen: string }).listen), moveTo);
      assert.equal((await admin.info()).proxies[0]!.impairment?.profile, "3g");
      await session.close();
      for (let i = 0; i < 50 && (await admin.info()).proxies[0]!.impairment?.profile !== "4g"; i++) await sleep(20);
      assert.equal((await admin.info()).proxies[0]!.impairment?.profile, "4g", "the bound apply reverted to 4g when its session closed");

      // a ttl survives a PATCH that disables and moves the proxy
      const timed = (await admin.apply("pg", "2g", { ttl: "1500ms" })) as { expiresAt: string | null };
      assert.notEqual(timed.expiresAt, null);
      const again = await closedPort();
      const patched = await call(agent.httpUrl, "PATCH", "/proxies/pg", { enabled: false, listen: `127.0.0.1:${again}` });
      assert.equal(patched.status, 200, patched.text);
      const during = (await admin.info()).proxies[0]!;
      assert.equal(during.enabled, false);
      assert.equal(during.impairment?.profile, "2g");
      assert.equal(during.impairment?.expiresAt, timed.expiresAt, "the expiry is kept");
      await sleep(2000);
      assert.equal((await admin.info()).proxies[0]!.impairment?.profile, "4g", "the ttl ran out and the proxy returned to 4g");
      const enabled = await call(agent.httpUrl, "POST", "/proxies/pg", { enabled: true });
      assert.equal(enabled.status, 200, enabled.text);
      assert.equal(agent.port("pg") !== again, true);
      const s = await dial(again);
      assert.notEqual(await answers(s, 5000), null, "the proxy relays on its new address");
      s.destroy();
    } finally {
      await session.close();
      await admin.close();
    }
  });
});

test("100,000 applies and clears keep the agent's heap flat", { timeout: 240_000 }, async () => {
  await withAgent(async (agent) => {
    const ctl: ControlClient = await connect(agent.url, { bindToSession: false, timeoutMs: 30_000 });
    try {
      const profiles = ["3g", "4g", "2g", "edge", "clean"];
      const drive = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i += 100) {
          await Promise.all(Array.from({ length: 100 }, (_, j) => (j % 10 === 9 ? ctl.clear("pg") : ctl.apply("pg", profiles[(i + j) % profiles.length]))));
        }
      };
      await drive(2000); // warm-up
      const before = await agent.probe();
      await drive(100_000);
      const after = await agent.probe();
      const grown = after.heapUsedBytes - before.heapUsedBytes;
      console.log(`heap after 100,000 applies: ${(before.heapUsedBytes / MiB).toFixed(1)} -> ${(after.heapUsedBytes / MiB).toFixed(1)} MiB, RSS ${(before.rssBytes / MiB).toFixed(0)} -> ${(after.rssBytes / MiB).toFixed(0)} MiB`);
      assert.ok(grown < 8 * MiB, `the heap grew by ${(grown / MiB).toFixed(1)} MiB over 100,000 applies (bound 8 MiB)`);
    } finally {
      await ctl.close();
    }
  }, { fast: true });
});
