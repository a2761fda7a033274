// Faults that close or delay a connection: limit (truncation with FIN), slow close, connect
// delay and refuse, corruption.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dial, readBytes, sleep, startServer } from "../support/net.js";
import {
  binomialBounds,
  checkStream,
  countingServer,
  impair,
  pushServer,
  sinkServer,
  startProxy,
  streamBytes,
  writeStream,
  endOfProbed,
} from "../support/engine.js";
import type { LimitDirection } from "../../src/profiles/types.js";

const N = 10_000;

async function limitDown(direction: LimitDirection): Promise<void> {
  let upstreamEnd = null as Promise<string> | null;
  const upstream = await startServer((s) => {
    upstreamEnd = endOfProbed(s, 5000);
    void writeStream(s, 200_000, { end: false });
  });
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.limit = { bytes: N, direction, probability: 1 }));
  try {
    const c = await dial(p.port);
    const { checker, ended } = checkStream(c);
    assert.equal(await ended, "end", `limit ${direction}: the client got a FIN`);
    assert.equal(checker.received, N, `limit ${direction}: exactly ${N} bytes down`);
    assert.equal(checker.firstMismatch, null);
    assert.ok(upstreamEnd);
    assert.equal(await upstreamEnd, "end", `limit ${direction}: the upstream got a FIN`);
    assert.equal(p.proxy.stats().faults.limit, 1);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
}

async function limitUp(direction: LimitDirection): Promise<void> {
  const sink = await sinkServer();
  const p = await startProxy(sink.address);
  impair(p.proxy, (s) => (s.limit = { bytes: N, direction, probability: 1 }));
  try {
    const c = await dial(p.port);
    const clientEnd = endOfProbed(c, 5000);
    void writeStream(c, 200_000, { end: false });
    const up = await sink.next();
    assert.equal(up.how, "end", `limit ${direction}: the upstream got a FIN`);
    assert.equal(up.bytes, N, `limit ${direction}: exactly ${N} bytes up`);
    assert.equal(up.checker.firstMismatch, null);
    assert.equal(await clientEnd, "end", `limit ${direction}: the client got a FIN`);
    c.destroy();
  } finally {
    await p.close();
    await sink.close();
  }
}

test("limit down / up / both: closes with FIN both ways after exactly N bytes", async () => {
  await Promise.all([limitDown("down"), limitUp("up"), limitDown("both"), limitUp("both")]);
});

test("limit down does not count up bytes (and the reverse)", async () => {
  const sink = await sinkServer();
  const p = await startProxy(sink.address);
  impair(p.proxy, (s) => (s.limit = { bytes: 100, direction: "down", probability: 1 }));
  try {
    const c = await dial(p.port);
    await writeStream(c, 50_000).done;
    const up = await sink.next();
    assert.equal(up.how, "end", "the client's own FIN, not the limit");
    assert.equal(up.bytes, 50_000, "up bytes pass a down limit");
    assert.equal(p.proxy.stats().faults.limit, 0);
    c.destroy();
  } finally {
    await p.close();
    await sink.close();
  }
});

test("slowClose {delay 500 ms}: a FIN arrives >= 500 ms after it was sent, data before it at once", async () => {
  const sink = await sinkServer();
  const p = await startProxy(sink.address);
  impair(p.proxy, (s) => (s.slowClose = { delay: 500, probability: 1 }));
  try {
    const c = await dial(p.port);
    const t0 = performance.now();
    c.end(streamBytes(0, 1000));
    const up = await sink.next();
    const ms = performance.now() - t0;
    assert.equal(up.how, "end");
    assert.equal(up.bytes, 1000);
    assert.ok(ms >= 495, `FIN after ${ms.toFixed(0)} ms`);
    assert.ok(ms < 1500, `FIN after ${ms.toFixed(0)} ms`);
    c.destroy();
  } finally {
    await p.close();
    await sink.close();
  }
});

test("connect {delay 300 ms}: the first byte comes back >= 300 ms after connecting", async () => {
  const upstream = await countingServer();
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.connect = { delay: 300, refuse: 0 }));
  try {
    const t0 = performance.now(); // before the dial: the agent may accept before our connect event runs
    const c = await dial(p.port);
    const got = readBytes(c, 4, 5000);
    c.write("ping");
    await sleep(200);
    assert.equal(upstream.accepted(), 0, "not dialled yet at 200 ms");
    assert.equal((await got).toString(), "ping");
    const ms = performance.now() - t0;
    assert.ok(ms >= 299 && ms < 1000, `first byte after ${ms.toFixed(0)} ms`);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});

/** Dials and says whether the connection was reset at once or echoes a byte. */
async function probe(port: number): Promise<"reset" | "ok" | string> {
  let c;
  try {
    c = await dial(port);
  } catch (err) {
    // reset before Node reported the connect (the agent resets refused clients at accept)
    if ((err as NodeJS.ErrnoException).code === "ECONNRESET") return "reset";
    throw err;
  }
  const how = endOfProbed(c, 5000);
  const echoed = readBytes(c, 1, 5000).then((b) => (b.length === 1 ? "ok" : "no-echo"));
  c.write("x");
  const r = await Promise.race([how, echoed]);
  c.destroy();
  return r;
}

test("connect {refuse 100%}: every client is reset at once and the upstream never dialled", async () => {
  const upstream = await countingServer();
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.connect = { delay: 0, refuse: 1 }));
  try {
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      assert.equal(await probe(p.port), "reset");
      assert.ok(performance.now() - t0 < 500);
    }
    assert.equal(upstream.accepted(), 0);
    assert.equal(p.proxy.stats().faults.refuse, 5);
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("connect {refuse 50%} over 200 connections: about half are reset (binomial bounds)", async () => {
  const upstream = await countingServer();
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.connect = { delay: 0, refuse: 0.5 }));
  try {
    const results: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      results.push(...(await Promise.all(Array.from({ length: 20 }, () => probe(p.port)))));
    }
    const resets = results.filter((r) => r === "reset").length;
    const ok = results.filter((r) => r === "ok").length;
    const [lo, hi] = binomialBounds(200, 0.5);
    console.log(`# refuse 50%: ${resets}/200 reset (bounds ${lo}-${hi})`);
    assert.equal(resets + ok, 200, `unexpected outcomes: ${results.filter((r) => r !== "reset" && r !== "ok").join(",")}`);
    assert.ok(resets >= lo && resets <= hi, `${resets} of 200 refused`);
    assert.equal(p.proxy.stats().faults.refuse, resets);
    assert.equal(upstream.accepted(), ok, "refused clients never reached the upstream");
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("corrupt {probability 1e-3} on 1 MiB: bytes differ, as many as counted, within binomial bounds", async () => {
  const total = 1024 * 1024;
  const upstream = await pushServer(total);
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.corrupt = { probability: 1e-3 }));
  try {
    const c = await dial(p.port);
    const got = await readBytes(c, total, 10_000);
    assert.equal(got.length, total, "corruption changes bytes, never their number");
    const expected = streamBytes(0, total);
    let differ = 0;
    for (let i = 0; i < total; i++) if (got[i] !== expected[i]) differ++;
    const [lo, hi] = binomialBounds(total, 1e-3);
    console.log(`# corrupt: ${differ} bytes differ (bounds ${lo}-${hi}), faults.corrupt = ${p.proxy.stats().faults.corrupt}`);
    assert.ok(differ >= lo && differ <= hi, `${differ} corrupted bytes`);
    assert.equal(p.proxy.stats().faults.corrupt, differ, "each corrupted byte is counted once");
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});
