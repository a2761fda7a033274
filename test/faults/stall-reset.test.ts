// Stall and reset faults over real sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { dial, echoServer, roundTrip, sleep, startServer } from "../support/net.js";
import { checkStream, impair, sinkServer, startProxy, streamBytes, endOfProbed } from "../support/engine.js";

/** Writes the numbered stream `piece` bytes every `everyMs` until `total`, then ends. */
function pacedWrite(s: Socket, total: number, piece: number, everyMs: number): void {
  let sent = 0;
  const timer = setInterval(() => {
    if (s.destroyed) return clearInterval(timer);
    const n = Math.min(piece, total - sent);
    s.write(streamBytes(sent, n));
    sent += n;
    if (sent >= total) {
      clearInterval(timer);
      s.end();
    }
  }, everyMs);
}

test("stall {every 500 ms, duration 300 ms}: the stream sees a gap >= 250 ms, every byte arrives after it, counted", async () => {
  const total = 130 * 1000;
  const upstream = await startServer((s) => pacedWrite(s, total, 1000, 10));
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.stall = { every: 500, duration: 300, probability: 1 }));
  try {
    const c = await dial(p.port);
    const arrivals: number[] = [];
    c.on("data", () => arrivals.push(performance.now()));
    const { checker, ended } = checkStream(c);
    assert.equal(await ended, "end");
    assert.equal(checker.received, total, "every byte arrived");
    assert.equal(checker.firstMismatch, null, "in order and intact");
    let gap = 0;
    for (let i = 1; i < arrivals.length; i++) gap = Math.max(gap, arrivals[i]! - arrivals[i - 1]!);
    console.log(`# stall: largest gap ${gap.toFixed(0)} ms; faults.stall = ${p.proxy.stats().faults.stall}`);
    assert.ok(gap >= 250, `largest gap between reads ${gap.toFixed(0)} ms`);
    assert.ok(p.proxy.stats().faults.stall >= 1, "the stall was counted");
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("reset {after 200 ms}: both client and upstream see ECONNRESET, counted as faults.reset", async () => {
  let upstreamEnd = null as Promise<string> | null;
  const upstream = await startServer((s) => {
    upstreamEnd = endOfProbed(s, 5000);
    s.pipe(s);
  });
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.reset = { probability: 1, after: 200, afterBytes: null }));
  try {
    const t0 = performance.now(); // before the dial: the agent may accept before our connect event runs
    const c = await dial(p.port);
    const clientEnd = endOfProbed(c, 5000);
    assert.ok((await roundTrip(c)) < 100, "the connection works before the reset");
    assert.equal(await clientEnd, "reset");
    const ms = performance.now() - t0;
    assert.ok(ms >= 195 && ms < 1000, `reset after ${ms.toFixed(0)} ms`);
    assert.ok(upstreamEnd);
    assert.equal(await upstreamEnd, "reset");
    assert.equal(p.proxy.stats().faults.reset, 1);
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("reset {afterBytes 1000}: resets once 1000 bytes have passed, both ends see ECONNRESET", async () => {
  const sink = await sinkServer();
  const p = await startProxy(sink.address);
  impair(p.proxy, (s) => (s.reset = { probability: 1, after: null, afterBytes: 1000 }));
  try {
    const c = await dial(p.port);
    const clientEnd = endOfProbed(c, 5000);
    let sent = 0;
    const timer = setInterval(() => {
      if (c.destroyed || sent >= 10_000) return;
      c.write(streamBytes(sent, 300));
      sent += 300;
    }, 20);
    const up = await sink.next();
    clearInterval(timer);
    assert.equal(up.how, "reset");
    assert.equal(await clientEnd, "reset");
    assert.ok(up.bytes >= 1000 && up.bytes < 2000, `upstream got ${up.bytes} bytes before the reset`);
    assert.equal(up.checker.firstMismatch, null);
    assert.equal(p.proxy.stats().faults.reset, 1);
  } finally {
    await p.close();
    await sink.close();
  }
});

test("a reset applied to a live connection fires from the apply, not from the accept", async () => {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address);
  try {
    const c = await dial(p.port);
    const clientEnd = endOfProbed(c, 5000);
    await sleep(300);
    const t0 = performance.now();
    impair(p.proxy, (s) => (s.reset = { probability: 1, after: 200, afterBytes: null }));
    assert.equal(await clientEnd, "reset");
    const ms = performance.now() - t0;
    assert.ok(ms >= 195, `reset ${ms.toFixed(0)} ms after the apply`);
  } finally {
    await p.close();
    await upstream.close();
  }
});
