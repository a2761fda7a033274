// Half-open connections over real sockets: the upstream gets a FIN and is forgotten; the client
// gets nothing at all (no data, no FIN, no RST) until it closes or the hold ends with a reset.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dial, endOf, roundTrip, sleep, startServer } from "../support/net.js";
import { countingServer, impair, startProxy, endOfProbed } from "../support/engine.js";
import type { HalfOpenMode } from "../../src/profiles/types.js";

async function halfOpenAfter(mode: HalfOpenMode): Promise<void> {
  let upstreamEnd = null as Promise<string> | null;
  const upstream = await startServer((s) => {
    upstreamEnd = new Promise((resolve) => {
      s.once("end", () => resolve("end"));
      s.once("error", (e: NodeJS.ErrnoException) => resolve(`error:${e.code}`));
    });
    s.on("data", (d: Buffer) => s.write(d)); // echo, but never end on its own
  });
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.halfOpen = { probability: 1, after: 300, afterBytes: null, mode, hold: 60_000 }));
  try {
    const c = await dial(p.port);
    assert.ok((await roundTrip(c)) < 100, `${mode}: the connection works before it goes half-open`);
    assert.ok(upstreamEnd);
    assert.equal(await upstreamEnd, "end", `${mode}: the upstream got a FIN`);
    let received = 0;
    c.on("data", (d: Buffer) => (received += d.length));
    // The client keeps talking; it must hear nothing, not even a FIN or RST, for 2 s.
    const big = Buffer.alloc(1024 * 1024, 5);
    for (let i = 0; i < 32; i++) c.write(big);
    const how = await endOf(c, 2000);
    assert.equal(how, "timeout", `${mode}: the client saw ${how} while half-open`);
    assert.equal(received, 0, `${mode}: the client received ${received} bytes while half-open`);
    if (mode === "drop") assert.equal(c.writableLength, 0, "drop: the agent reads and discards what the client sends");
    else assert.ok(c.writableLength > 0, "freeze: the agent stops reading, so the client's writes back up");
    assert.equal(p.proxy.stats().faults.half_open, 1);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
}

test("halfOpen {after 300 ms} drop and freeze: upstream gets FIN; client sees nothing, no FIN, no RST for 2 s", async () => {
  await Promise.all([halfOpenAfter("drop"), halfOpenAfter("freeze")]);
});

test("halfOpen {after 0, hold 1 s}: the upstream is never dialled and the hold ends with a reset", async () => {
  const upstream = await countingServer();
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.halfOpen = { probability: 1, after: 0, afterBytes: null, mode: "drop", hold: 1000 }));
  try {
    const t0 = performance.now(); // before the dial: the agent may accept before our connect event runs
    const c = await dial(p.port);
    let received = 0;
    c.on("data", (d: Buffer) => (received += d.length));
    c.write("anyone there?");
    const how = await endOfProbed(c, 5000);
    const ms = performance.now() - t0;
    assert.equal(how, "reset", "the hold ended with a reset");
    assert.ok(ms >= 990, `reset after ${ms.toFixed(0)} ms, before the 1 s hold`);
    assert.ok(ms < 2500, `reset after ${ms.toFixed(0)} ms`);
    assert.equal(received, 0);
    await sleep(50);
    assert.equal(upstream.accepted(), 0, "the upstream was never dialled");
    assert.equal(p.proxy.stats().faults.half_open, 1);
  } finally {
    await p.close();
    await upstream.close();
  }
});
