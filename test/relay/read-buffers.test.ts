// The relay reads into reusable buffers (src/relay/reader.ts): a buffer lent to a pending write,
// or to a link's queue, is never read into again before its last byte is written, and a quiet
// connection holds no read buffer of its own. Checked with the numbered stream (a byte lost,
// duplicated or overwritten shows at its offset) over real sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { dial, sleep, startServer } from "../support/net.js";
import { StreamChecker, impair, seeded, startProxy, streamBytes } from "../support/engine.js";
import { spawnAgent } from "../support/agent-process.js";

/** Writes `total` numbered bytes in seeded sizes from 1 B to 200 KiB, with short pauses now and then. */
async function writeMixed(s: Socket, total: number, seed: number): Promise<void> {
  const random = seeded(seed);
  let sent = 0;
  while (sent < total) {
    const r = random();
    const n = Math.min(total - sent, r < 0.3 ? 1 + Math.floor(random() * 100) : r < 0.6 ? 1 + Math.floor(random() * 4096) : 1 + Math.floor(random() * 200 * 1024));
    const ok = s.write(streamBytes(sent, n));
    sent += n;
    if (!ok) await new Promise((resolve) => s.once("drain", resolve));
    if (random() < 0.02) await sleep(2); // quiet moments: the reader drops back to its small buffer
  }
  s.end();
}

/** Reads a numbered stream, pausing the socket now and then (so the relay's writes to it stay pending). */
function readSlowly(s: Socket, seed: number): Promise<StreamChecker> {
  const random = seeded(seed);
  const checker = new StreamChecker();
  s.on("data", (c: Buffer) => {
    checker.push(c);
    if (random() < 0.05) {
      s.pause();
      setTimeout(() => s.resume(), 1 + Math.floor(random() * 10));
    }
  });
  return new Promise((resolve, reject) => {
    s.once("end", () => resolve(checker));
    s.once("error", reject);
  });
}

test("mixed-size bytes both ways at once to readers that keep pausing arrive intact, while links come and go", async () => {
  const total = 24 * 1024 * 1024;
  let upstreamDone = null as Promise<StreamChecker> | null;
  const upstream = await startServer((s) => {
    s.setNoDelay(true);
    upstreamDone = readSlowly(s, 11);
    void writeMixed(s, total, 12);
  });
  const p = await startProxy(upstream.address);
  try {
    const c = await dial(p.port);
    const down = readSlowly(c, 13);
    const up = writeMixed(c, total, 14);
    // the links borrow what they queue, the fast path writes the reader's buffer itself
    for (let i = 0; i < 6; i++) {
      await sleep(40);
      if (i % 2 === 0) impair(p.proxy, (s) => ((s.up.delay = 2), (s.down.bandwidth = 400e6)));
      else p.proxy.setImpairment(null);
    }
    p.proxy.setImpairment(null);
    await up;
    const gotDown = await down;
    assert.ok(upstreamDone, "the upstream was dialled");
    const gotUp = await upstreamDone;
    assert.equal(gotUp.firstMismatch, null, "up bytes in order, none overwritten");
    assert.equal(gotDown.firstMismatch, null, "down bytes in order, none overwritten");
    assert.equal(gotUp.received, total);
    assert.equal(gotDown.received, total);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("through links that hold the borrowed read buffers (own and shared, delay, jitter, re-applied live), mixed-size bytes arrive intact both ways", async () => {
  const total = 16 * 1024 * 1024;
  let upstreamDone = null as Promise<StreamChecker> | null;
  const upstream = await startServer((s) => {
    s.setNoDelay(true);
    upstreamDone = readSlowly(s, 21);
    void writeMixed(s, total, 22);
  });
  const p = await startProxy(upstream.address);
  try {
    impair(p.proxy, (s) => ((s.share = "connection"), (s.up.delay = 3), (s.up.jitter = 2), (s.down.bandwidth = 300e6), (s.down.delay = 1)));
    const c = await dial(p.port);
    const down = readSlowly(c, 23);
    const up = writeMixed(c, total, 24);
    // live re-applies re-time what is queued (lent buffers included); the last one shares a link
    for (let i = 0; i < 4; i++) {
      await sleep(60);
      impair(p.proxy, (s) => ((s.share = i === 3 ? "client" : "connection"), (s.up.bandwidth = 200e6 + i * 50e6), (s.up.delay = 1 + i), (s.down.bandwidth = 250e6), (s.down.jitter = 1)));
    }
    await up;
    const gotDown = await down;
    assert.ok(upstreamDone, "the upstream was dialled");
    const gotUp = await upstreamDone;
    assert.equal(gotUp.firstMismatch, null, "up bytes in order, none overwritten");
    assert.equal(gotDown.firstMismatch, null, "down bytes in order, none overwritten");
    assert.equal(gotUp.received, total);
    assert.equal(gotDown.received, total);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("idle connections after a burst hold small read buffers (agent external memory per connection well under 64 KiB)", async () => {
  const n = 100;
  const burst = 1024 * 1024;
  const upstream = await startServer((s) => {
    s.setNoDelay(true);
    s.on("data", () => {});
    // each connection gets a 1 MiB burst down, then stays open and quiet
    s.write(streamBytes(0, burst));
  });
  const agent = await spawnAgent({ proxies: [{ name: "idle", listen: "127.0.0.1:0", upstream: upstream.address }] });
  const clients: Socket[] = [];
  try {
    const before = (await agent.probe({ gc: true })).externalBytes;
    for (let i = 0; i < n; i++) {
      const c = await dial(agent.port("idle"));
      let got = 0;
      await new Promise<void>((resolve) => {
        c.on("data", (d: Buffer) => {
          got += d.length;
          if (got >= burst) resolve();
        });
        c.write(streamBytes(0, 256 * 1024)); // a burst up too
      });
      clients.push(c);
    }
    await sleep(100);
    const perConnection = ((await agent.probe({ gc: true })).externalBytes - before) / n;
    console.log(`# ${n} idle connections after 1 MiB down + 256 KiB up each: ${(perConnection / 1024).toFixed(1)} KiB of external memory per connection in the agent`);
    // two 64 KiB buffers kept per connection would be 128 KiB; quiet sockets share one small buffer
    assert.ok(perConnection < 16 * 1024, `${Math.round(perConnection)} bytes of external memory per idle connection`);
  } finally {
    for (const c of clients) c.destroy();
    await agent.stop();
    await upstream.close();
  }
});
