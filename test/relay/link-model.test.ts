// The link model over real sockets: bandwidth, delay, jitter (order kept), loss as rto-late
// delivery, slicing, Gilbert-Elliott bursts. Lower bounds are tight, upper bounds generous.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { dial, echoServer, readBytes, roundTrip } from "../support/net.js";
import {
  checkStream,
  impair,
  pushServer,
  seeded,
  sinkServer,
  startProxy,
  streamBytes,
  writeStream,
  type RunningProxy,
} from "../support/engine.js";
import type { ImpairmentSpec, JitterDistribution } from "../../src/profiles/types.js";

/** ms to send `n` bytes up and hear the upstream's one-byte acknowledgement of the last. */
async function timeUp(rate: number, n: number): Promise<number> {
  const sink = await sinkServer({ ackAfter: n });
  const p = await startProxy(sink.address);
  impair(p.proxy, (s) => (s.up.bandwidth = rate));
  try {
    const c = await dial(p.port);
    const ack = readBytes(c, 1, 30_000);
    const t0 = performance.now();
    void writeStream(c, n, { end: false });
    assert.equal((await ack).toString(), "K");
    const ms = performance.now() - t0;
    c.destroy();
    return ms;
  } finally {
    await p.close();
    await sink.close();
  }
}

/** ms from asking for `n` bytes down to receiving the last of them. */
async function timeDown(rate: number, n: number): Promise<number> {
  const upstream = await pushServer(n, { waitForByte: true });
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.down.bandwidth = rate));
  try {
    const c = await dial(p.port);
    const got = readBytes(c, n, 30_000);
    const t0 = performance.now();
    c.write("g");
    assert.equal((await got).length, n);
    const ms = performance.now() - t0;
    c.destroy();
    return ms;
  } finally {
    await p.close();
    await upstream.close();
  }
}

test("bandwidth: 2 s worth at 1 Mbps and 10 Mbps, each direction, takes 0.97-1.3 x the ideal time", async () => {
  const cases = [1e6, 10e6].flatMap((rate) => {
    const n = (rate / 8) * 2; // two seconds' worth
    const ideal = ((n * 8) / rate) * 1000;
    return [
      { what: `up ${rate / 1e6} Mbps`, ideal, run: () => timeUp(rate, n) },
      { what: `down ${rate / 1e6} Mbps`, ideal, run: () => timeDown(rate, n) },
    ];
  });
  const results = await Promise.all(cases.map(async (c) => ({ ...c, ms: await c.run() })));
  for (const r of results) {
    console.log(`# ${r.what}: ${r.ms.toFixed(0)} ms, ideal ${r.ideal.toFixed(0)} ms (x${(r.ms / r.ideal).toFixed(3)})`);
    assert.ok(r.ms >= 0.97 * r.ideal, `${r.what}: ${r.ms.toFixed(0)} ms < 0.97 x ideal ${r.ideal} ms`);
    assert.ok(r.ms <= 1.3 * r.ideal, `${r.what}: ${r.ms.toFixed(0)} ms > 1.3 x ideal ${r.ideal} ms`);
  }
});

async function withEcho(
  mutate: (s: ImpairmentSpec) => void,
  body: (c: Socket, p: RunningProxy) => Promise<void>,
  seed = 1,
): Promise<void> {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address, { random: seeded(seed) });
  impair(p.proxy, mutate);
  const c = await dial(p.port);
  try {
    await body(c, p);
  } finally {
    c.destroy();
    await p.close();
    await upstream.close();
  }
}

test("delay: 50 ms each way makes a 64-byte round trip take 99-140 ms", async () => {
  await withEcho(
    (s) => ((s.up.delay = 50), (s.down.delay = 50)),
    async (c) => {
      const rtts: number[] = [];
      for (let i = 0; i < 6; i++) rtts.push(await roundTrip(c, 64));
      rtts.sort((a, b) => a - b);
      console.log(`# delay 50+50: round trips ${rtts.map((x) => x.toFixed(1)).join(" ")} ms`);
      assert.ok(rtts[0]! >= 99, `fastest round trip ${rtts[0]} ms < 99`);
      assert.ok(rtts[3]! < 140, `median round trip ${rtts[3]} ms >= 140`);
    },
  );
});

/** Writes `count` numbered pieces of `size` bytes, one per event-loop turn, and checks the echo. */
async function echoNumbered(c: Socket, count: number, size: number): Promise<void> {
  const total = count * size;
  const { checker } = checkStream(c);
  for (let i = 0; i < count; i++) {
    c.write(streamBytes(i * size, size));
    if (i % 10 === 9) await new Promise((r) => setImmediate(r));
  }
  const t0 = performance.now();
  while (checker.received < total && performance.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 10));
  assert.equal(checker.received, total, "every byte came back");
  assert.equal(checker.firstMismatch, null, `bytes out of order or damaged at offset ${checker.firstMismatch}`);
}

for (const dist of ["uniform", "normal", "pareto"] as JitterDistribution[]) {
  test(`jitter (${dist}, 15 ms each way) keeps byte order and adds about 2 x 15 ms per round trip`, async () => {
    const J = 15;
    await withEcho(
      (s) => {
        for (const d of [s.up, s.down]) {
          d.jitter = J;
          d.jitterDistribution = dist;
        }
      },
      async (c) => {
        await echoNumbered(c, 400, 100);
        const rtts: number[] = [];
        for (let i = 0; i < 40; i++) rtts.push(await roundTrip(c, 64));
        const mean = rtts.reduce((a, b) => a + b, 0) / rtts.length;
        console.log(`# jitter ${dist}: mean round trip ${mean.toFixed(1)} ms (expected ~${2 * J})`);
        assert.ok(mean >= 0.6 * 2 * J, `mean ${mean.toFixed(1)} ms is well under 2 x ${J} ms`);
        assert.ok(mean <= 1.6 * 2 * J + 10, `mean ${mean.toFixed(1)} ms is well over 2 x ${J} ms`);
      },
      dist.length, // a different seed per distribution
    );
  });
}

test("loss 20% with rto 100 ms: lost round trips take >= rto more, counted as faults.loss; bytes intact", async () => {
  await withEcho(
    (s) => ((s.up.loss = 0.2), (s.up.rto = 100)),
    async (c, p) => {
      const rtts: number[] = [];
      for (let i = 0; i < 40; i++) rtts.push(await roundTrip(c, 64));
      const slow = rtts.filter((x) => x >= 99).length;
      const fast = rtts.filter((x) => x < 60).length;
      console.log(`# loss 20%: ${slow}/40 round trips took >= rto; faults.loss = ${p.proxy.stats().faults.loss}`);
      assert.ok(slow >= 1, "some round trips are an rto late");
      assert.equal(slow + fast, 40, `round trips are either fast or an rto late: ${rtts.map((x) => x.toFixed(0)).join(" ")}`);
      assert.equal(p.proxy.stats().faults.loss, slow, "each late round trip is one lost segment");
      await echoNumbered(c, 200, 1000);
      assert.ok(p.proxy.stats().faults.loss > slow, "the bulk transfer lost segments too");
    },
    7,
  );
});

test("Gilbert-Elliott burst loss delivers every byte, in order", async () => {
  await withEcho(
    (s) => {
      for (const d of [s.up, s.down]) {
        d.gilbertElliott = { pGoodToBad: 0.05, pBadToGood: 0.4, lossInBad: 1, lossInGood: 0 };
        d.rto = 20;
      }
    },
    async (c, p) => {
      await echoNumbered(c, 300, 1000);
      assert.ok(p.proxy.stats().faults.loss > 0, "bursts lost segments");
    },
    3,
  );
});

test("slicing {size 10, delay 5 ms}: the receiver never reads more than 10 bytes at once, and it takes >= (n/size - 1) x delay", async () => {
  const n = 300;
  const upstream = await pushServer(n, { waitForByte: true });
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => (s.down.slice = { size: 10, delay: 5 }));
  try {
    const c = await dial(p.port);
    const { checker, ended } = checkStream(c);
    const t0 = performance.now();
    c.write("g");
    assert.equal(await ended, "end");
    const ms = performance.now() - t0;
    assert.equal(checker.received, n);
    assert.equal(checker.firstMismatch, null);
    assert.ok(checker.largestChunk <= 10, `a read of ${checker.largestChunk} bytes`);
    assert.ok(ms >= (n / 10 - 1) * 5, `took ${ms.toFixed(0)} ms`);
    console.log(`# slicing: ${checker.chunks} reads, largest ${checker.largestChunk} B, ${ms.toFixed(0)} ms`);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});
