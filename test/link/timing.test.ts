// The link math without sockets or waiting: release times from arrivals, exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LinkTiming, COALESCE_MS, COALESCE_BYTES, MAX_COALESCE_MS, CATCH_UP_MS, type ScheduledPiece } from "../../src/link/timing.js";
import { jitterSampler } from "../../src/link/jitter.js";
import { GilbertElliottLossModel } from "../../src/link/loss.js";
import { StallSchedule } from "../../src/faults/stall.js";
import { queueBound, streamQueueBound, MIN_QUEUE_BYTES, MIN_QUEUE_MS, UNLIMITED_QUEUE_BYTES } from "../../src/link/link.js";
import { cleanDirection, type DirectionSpec } from "../../src/profiles/types.js";
import { seededRandom as seeded } from "../support/random.js";

function dir(over: Partial<DirectionSpec>): DirectionSpec {
  return { ...cleanDirection(), ...over };
}


function totalBytes(pieces: ScheduledPiece[]): number {
  return pieces.reduce((n, p) => n + p.size, 0);
}

test("bandwidth clock: N bytes on an idle link take delay + N / bandwidth", () => {
  // 1 Mbps = 125 bytes per ms; 1460-byte segments take 11.68 ms each
  const t = new LinkTiming(dir({ bandwidth: 1_000_000, delay: 100 }), null, seeded(1));
  const pieces = t.schedule(0, 125_000);
  assert.equal(totalBytes(pieces), 125_000);
  const last = pieces[pieces.length - 1]!;
  assert.ok(Math.abs(last.release - (100 + 1000)) < 1e-6, `last release ${last.release}`);
  // the first segment leaves after its own serialization time plus the delay
  assert.ok(Math.abs(pieces[0]!.release - (100 + 1460 / 125)) < 1e-6);
});

test("bandwidth clock: a departure waits for the previous one (queueing), not for arrival only", () => {
  const t = new LinkTiming(dir({ bandwidth: 8_000 }), null, seeded(1)); // 1 byte per ms
  const a = t.schedule(0, 100); // departs at 100
  const b = t.schedule(50, 100); // arrives while the first is still serializing: departs at 200
  const c = t.schedule(1000, 100); // idle link again: departs at 1100
  assert.equal(a[a.length - 1]!.release, 100);
  assert.equal(b[b.length - 1]!.release, 200);
  assert.equal(c[c.length - 1]!.release, 1100);
});

test("segments are at most mtu bytes and releases are paced per segment", () => {
  const t = new LinkTiming(dir({ bandwidth: 400_000, mtu: 500 }), null, seeded(1)); // 50 bytes/ms
  const pieces = t.schedule(0, 5000);
  // 10 ms per 500-byte segment is far above COALESCE_MS, so no two segments merge
  assert.equal(pieces.length, 10);
  for (let i = 0; i < pieces.length; i++) {
    assert.equal(pieces[i]!.size, 500);
    assert.ok(Math.abs(pieces[i]!.release - 10 * (i + 1)) < 1e-9);
  }
});

test("fast segments due within the coalescing window are merged into one piece", () => {
  const t = new LinkTiming(dir({ bandwidth: 10_000_000_000, delay: 5 }), null, seeded(1));
  const pieces = t.schedule(0, 64 * 1024);
  assert.equal(pieces.length, 1);
  assert.equal(pieces[0]!.size, 64 * 1024);
  // 100 Mbps: 0.117 ms per segment; a run holds about COALESCE_BYTES (2.6 ms of the link)
  const fast = new LinkTiming(dir({ bandwidth: 100_000_000 }), null, seeded(1));
  const p1 = fast.schedule(0, 64 * 1024);
  assert.equal(totalBytes(p1), 64 * 1024);
  for (const p of p1.slice(0, -1)) assert.ok(p.size >= COALESCE_BYTES && p.size <= COALESCE_BYTES + 1460, `a ${p.size}-byte piece at 100 Mbps`);
  // 10 Mbps: 1.168 ms per segment; runs span at most MAX_COALESCE_MS (3 segments)
  const slow = new LinkTiming(dir({ bandwidth: 10_000_000 }), null, seeded(1));
  const p2 = slow.schedule(0, 30 * 1460);
  for (let i = 1; i < p2.length; i++) assert.ok(p2[i]!.release - p2[i - 1]!.release > 0);
  for (const p of p2) assert.ok(p.size <= 3 * 1460, "no run spans more than the window");
  assert.ok(p2.some((p) => p.size === 3 * 1460));
  // the first segment of a piece waits for its last: never longer than MAX_COALESCE_MS
  for (const p of p2) assert.ok(p.release - (p.offset / 1460 + 1) * 1.168 < MAX_COALESCE_MS, `piece at ${p.offset} released at ${p.release}`);
  // 1 Mbps: 11.68 ms per segment, longer than the window: segment by segment
  const oneMbps = new LinkTiming(dir({ bandwidth: 1_000_000 }), null, seeded(1));
  for (const p of oneMbps.schedule(0, 20 * 1460)) assert.equal(p.size, 1460);
  assert.ok(COALESCE_MS <= 1 && MAX_COALESCE_MS <= 3);
});

test("jitter never reorders: releases are monotonic for every distribution", () => {
  for (const jitterDistribution of ["uniform", "normal", "pareto"] as const) {
    const t = new LinkTiming(dir({ bandwidth: 1_000_000, delay: 20, jitter: 30, jitterDistribution }), null, seeded(7));
    let last = -Infinity;
    for (let i = 0; i < 200; i++) {
      for (const p of t.schedule(i * 3, 1460)) {
        assert.ok(p.release >= last, `${jitterDistribution}: ${p.release} < ${last}`);
        last = p.release;
      }
    }
  }
});

test("jitter distributions have the documented means", () => {
  const random = seeded(42);
  const n = 200_000;
  for (const [dist, tolerance] of [["uniform", 0.01], ["normal", 0.01], ["pareto", 0.03]] as const) {
    const sample = jitterSampler(dist, 10, random);
    let sum = 0;
    let min = Infinity;
    for (let i = 0; i < n; i++) {
      const x = sample();
      sum += x;
      if (x < min) min = x;
    }
    const mean = sum / n;
    assert.ok(Math.abs(mean - 10) / 10 < tolerance, `${dist} mean ${mean}`);
    assert.ok(min >= 0, `${dist} sample below zero`);
  }
  const uniform = jitterSampler("uniform", 10, random);
  for (let i = 0; i < 10_000; i++) {
    const x = uniform();
    assert.ok(x >= 0 && x <= 20);
  }
});

test("falling behind: a backlogged sender read late catches up at most CATCH_UP_MS; an idle one never", () => {
  // 8 Mbps = 1000 bytes per ms, 1000-byte segments: 1 ms each
  const spec = dir({ bandwidth: 8_000_000, mtu: 1000 });
  const late = new LinkTiming(spec, null, seeded(1));
  late.schedule(0, 10_000); // departures 1..10 ms: the clock runs dry at 10
  // the sender was held back by a full queue and read again at 15 (5 ms late): those 5 ms count
  // as sent, so the next bytes depart right after 10, as if read on time
  assert.equal(late.schedule(15, 1000, [], true)[0]!.release, 11);
  // read 100 ms late: no more than CATCH_UP_MS is made up (the rest is lost, not burst)
  late.schedule(200, 1000); // clock at 201
  assert.equal(late.schedule(301, 1000, [], true)[0]!.release, 301 - CATCH_UP_MS + 1);
  // a sender that was not held back (it had nothing to send) gets no credit
  const idle = new LinkTiming(spec, null, seeded(1));
  idle.schedule(0, 10_000);
  assert.equal(idle.schedule(15, 1000)[0]!.release, 16);
  // a link with no bandwidth has no clock to fall behind
  const delayOnly = new LinkTiming(dir({ delay: 20 }), null, seeded(1));
  delayOnly.schedule(0, 1000);
  assert.equal(delayOnly.schedule(50, 1000, [], true)[0]!.release, 70);
});

test("a lost segment is released one rto late and holds what follows (head-of-line blocking)", () => {
  // random() < loss for the second segment only
  const draws = [0.9, 0.0, 0.9, 0.9];
  let i = 0;
  const random = (): number => draws[i++ % draws.length]!;
  const t = new LinkTiming(dir({ bandwidth: 8_000, mtu: 100, loss: 0.5, rto: 200 }), null, random);
  const pieces = t.schedule(0, 400); // departures at 100, 200, 300, 400
  // the three segments held behind the lost one are all due at 400, so they leave as one piece
  assert.deepEqual(
    pieces.map((p) => [p.release, p.size]),
    [
      [100, 100],
      [400, 300],
    ],
  );
  assert.equal(t.lostSegments, 1);
});

test("Gilbert-Elliott losses come in bursts", () => {
  const model = new GilbertElliottLossModel({ pGoodToBad: 0.01, pBadToGood: 0.2, lossInBad: 1, lossInGood: 0 }, seeded(3));
  let losses = 0;
  let runs = 0;
  let prev = false;
  for (let k = 0; k < 100_000; k++) {
    const lost = model.lost();
    if (lost) losses++;
    if (lost && !prev) runs++;
    prev = lost;
  }
  // stationary share of bad = 0.01 / (0.01 + 0.2) ~ 4.8 %, mean burst ~ 1 / 0.2 = 5 segments
  assert.ok(losses / 100_000 > 0.035 && losses / 100_000 < 0.06, `loss rate ${losses / 100_000}`);
  assert.ok(losses / runs > 3.5 && losses / runs < 6.5, `burst length ${losses / runs}`);
});

test("slicing: pieces of slice.size with at least slice.delay between them", () => {
  const t = new LinkTiming(dir({ slice: { size: 64, delay: 5 } }), null, seeded(1));
  const pieces = t.schedule(0, 640);
  assert.equal(pieces.length, 10);
  for (let k = 0; k < pieces.length; k++) {
    assert.equal(pieces[k]!.size, 64);
    if (k > 0) assert.ok(pieces[k]!.release - pieces[k - 1]!.release >= 5 - 1e-9);
  }
});

test("stall windows: nothing released inside one, held bytes then leave at the link's pace", () => {
  const stall = new StallSchedule(0, 1000, 300); // stalls [1000,1300), [2000,2300), ...
  assert.equal(stall.windowEnd(999), null);
  assert.equal(stall.windowEnd(1000), 1300);
  assert.equal(stall.windowEnd(1299.9), 1300);
  assert.equal(stall.windowEnd(1300), null);
  assert.equal(stall.nextStart(0), 1000);
  assert.equal(stall.nextStart(1500), 2000);
  const t = new LinkTiming(dir({ bandwidth: 80_000, mtu: 100 }), stall, seeded(1)); // 10 bytes/ms: 10 ms per segment
  const pieces = t.schedule(950, 1000); // departures 960 .. 1050, most inside the stall
  for (const p of pieces) assert.ok(p.release < 1000 || p.release >= 1300, `released at ${p.release} inside the stall`);
  const held = pieces.filter((p) => p.release >= 1300);
  assert.ok(held.length >= 5);
  for (let k = 1; k < held.length; k++) {
    assert.ok(held[k]!.release - held[k - 1]!.release >= 10 - 1e-9, "paced, not a burst");
  }
});

test("re-timing: a restarted clock continues after the last delivered release, in order", () => {
  const t = new LinkTiming(dir({ bandwidth: 8_000, delay: 1000 }), null, seeded(1));
  const before = t.schedule(0, 100); // release at 1100 under the slow link
  assert.equal(before[before.length - 1]!.release, 1100);
  t.configure(dir({}), null);
  t.restartClock(50); // a piece released at 50 was the last one actually handed over
  const after = t.schedule(0, 100); // clean link: due at once, not before 50
  assert.equal(after[after.length - 1]!.release, 50);
});

test("queue bound: about twice the bandwidth-delay product, at least 64 KiB (a stream link: and 20 ms of its rate), 4 MiB when unlimited", () => {
  assert.equal(queueBound(dir({ bandwidth: 64_000, delay: 10 })), MIN_QUEUE_BYTES);
  // 100 Mbps x 200 ms = 2.5 MB BDP -> 5 MB
  assert.equal(queueBound(dir({ bandwidth: 100_000_000, delay: 200 })), 5_000_000);
  assert.equal(queueBound(dir({})), UNLIMITED_QUEUE_BYTES);
  // a stream link holds at least MIN_QUEUE_MS of its rate: 100 Mbps for 20 ms = 250 kB
  assert.equal(streamQueueBound(dir({ bandwidth: 100_000_000 })), 250_000);
  assert.equal(streamQueueBound(dir({ bandwidth: 100_000_000, delay: 200 })), 5_000_000);
  assert.equal(streamQueueBound(dir({ bandwidth: 1_000_000 })), MIN_QUEUE_BYTES);
  assert.equal(streamQueueBound(dir({ bandwidth: 10_000_000_000 })), UNLIMITED_QUEUE_BYTES);
  assert.equal(MIN_QUEUE_MS, 20);
});
