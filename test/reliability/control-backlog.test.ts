// Control clients the agent must survive (docs/reliability.md "Where features meet"): one that
// sends but never reads its replies keeps the agent's memory bounded (the agent stops reading
// it, then closes it), and many event subscribers raise no false leak warning.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import WebSocket from "ws";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../../src/index.js";
import { spawnAgent, MiB } from "../support/agent-process.js";
import { RawRpc } from "../support/rpc.js";
import { dial, echoServer, sleep } from "../support/net.js";

test("a control client that sends conn.list but never reads keeps the agent's memory bounded, and is closed", { timeout: 90_000 }, async () => {
  const echo = await echoServer();
  const dir = await mkdtemp(join(tmpdir(), "netimpair-backlog-"));
  const logFile = join(dir, "agent.log");
  const agent = await spawnAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }], logLevel: "warn", logFile });
  const logged = async (event: string): Promise<boolean> => (await readFile(logFile, "utf8").catch(() => "")).includes(`"event":"${event}"`);
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 400; i++) sockets.push(await dial(agent.port("pg")));
    const before = await agent.probe();
    const ws = new WebSocket(agent.url, { perMessageDeflate: false });
    ws.on("error", () => {});
    await once(ws, "open");
    // stop reading: replies pile up in the agent unless it stops reading us
    (ws as unknown as { _socket: Socket })._socket.pause();
    let id = 0;
    const sending = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      for (let i = 0; i < 19; i++) ws.send(JSON.stringify({ jsonrpc: "2.0", id: ++id, method: "conn.list", params: { proxy: "pg" } }));
    }, 100);
    let peak = before.rssBytes;
    const other = await connect(agent.url, { bindToSession: false });
    let worstInfo = 0;
    try {
      for (let i = 0; i < 10; i++) {
        await sleep(1000);
        const t = performance.now();
        await other.info();
        worstInfo = Math.max(worstInfo, performance.now() - t);
        peak = Math.max(peak, (await agent.probe({ gc: false })).rssBytes);
      }
      clearInterval(sending);
      console.log(`non-reading controller: ${id} requests sent in 10 s; agent RSS ${(before.rssBytes / MiB).toFixed(0)} -> peak ${(peak / MiB).toFixed(0)} MiB; another client's agent.info worst ${worstInfo.toFixed(0)} ms`);
      assert.ok(peak - before.rssBytes < 64 * MiB, `the agent's RSS grew by ${((peak - before.rssBytes) / MiB).toFixed(0)} MiB (bound 64 MiB)`);
      assert.ok(worstInfo < 1000, "other controllers are served meanwhile");
      assert.ok(await logged("control.backlog"), "the agent stopped reading the client (logged control.backlog)");
      // the client reads nothing, so it cannot see the close: the agent's log and fds tell it
      let gone = false;
      for (let i = 0; i < 60 && !gone; i++) {
        await sleep(500);
        gone = await logged("control.backlog.close");
      }
      assert.ok(gone, "the agent closed the connection of the client that does not read (1008)");
      await sleep(500);
      const after = await agent.probe();
      assert.ok(after.rssBytes - before.rssBytes < 96 * MiB, `memory is bounded after it went (${((after.rssBytes - before.rssBytes) / MiB).toFixed(0)} MiB)`);
    } finally {
      clearInterval(sending);
      ws.terminate();
      await other.close();
    }
  } finally {
    for (const s of sockets) s.destroy();
    await agent.stop();
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("12 event subscribers raise no MaxListenersExceededWarning", { timeout: 30_000 }, async () => {
  const echo = await echoServer();
  const agent = await spawnAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  const peers: RawRpc[] = [];
  try {
    for (let i = 0; i < 12; i++) {
      const p = await RawRpc.open(agent.url);
      peers.push(p);
      await p.ok("events.subscribe", { topics: ["connections", "faults"] });
    }
    const s = await dial(agent.port("pg"));
    s.destroy();
    await sleep(500);
    assert.ok(peers.every((p) => p.events.length > 0), "every subscriber got the connection events");
    assert.doesNotMatch(agent.stderr(), /MaxListenersExceededWarning/);
  } finally {
    for (const p of peers) await p.close();
    await agent.stop();
    await echo.close();
  }
});
