// The shared link's scheduler and bandwidth clock without sockets or waiting: flows are plain
// objects, time is a number handed to serve(), so every departure is checked exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { FairScheduler, FifoScheduler, FlowSlot } from "../../src/link/scheduler.js";
import { SharedClock, type SharedFlow } from "../../src/link/shared-clock.js";
import { SharedLink } from "../../src/link/shared.js";
import { MIN_QUEUE_BYTES } from "../../src/link/bound.js";
import { cleanDirection } from "../../src/profiles/types.js";

/** A flow of the pure clock: segments as (size, arrival), departures recorded. */
class FakeFlow implements SharedFlow {
  readonly segments: { size: number; arrival: number }[] = [];
  readonly departures: number[] = [];
  constructor(readonly name: string) {}
  headArrival(): number {
    return this.segments[this.departures.length]?.arrival ?? -Infinity;
  }
  headSize(): number {
    return this.segments[this.departures.length]?.size ?? 0;
  }
  depart(departure: number): void {
    this.departures.push(departure);
  }
  /** adds `n` segments of `size` arriving at `arrival`; returns n */
  queue(n: number, size: number, arrival: number): number {
    for (let i = 0; i < n; i++) this.segments.push({ size, arrival });
    return n;
  }
}

function names(order: (FakeFlow | null)[]): string {
  return order.map((f) => f?.name ?? "-").join("");
}

test("fair: backlogged flows take one segment each per turn; a flow that had nothing waiting goes first once, then joins the end of the round", () => {
  const s = new FairScheduler<FakeFlow>();
  const a = new FlowSlot(new FakeFlow("a"));
  const b = new FlowSlot(new FakeFlow("b"));
  const c = new FlowSlot(new FakeFlow("c"));
  s.add(a, 4);
  s.add(b, 2);
  assert.equal(names([s.next(), s.next()]), "ab");
  s.add(c, 3); // new: served next, then behind b in the round
  assert.equal(names([s.next(), s.next(), s.next(), s.next(), s.next(), s.next()]), "cabcac");
  assert.equal(s.backlogged, true);
  assert.equal(names([s.next()]), "a");
  assert.equal(s.backlogged, false);
  assert.equal(s.next(), null);
});

test("fair: more segments for a flow already in the ring do not give it extra turns; a removed flow is never served", () => {
  const s = new FairScheduler<FakeFlow>();
  const a = new FlowSlot(new FakeFlow("a"));
  const b = new FlowSlot(new FakeFlow("b"));
  s.add(a, 1);
  s.add(b, 3);
  s.add(a, 2);
  assert.equal(names([s.next(), s.next(), s.next(), s.next()]), "abab");
  s.remove(b);
  assert.equal(names([s.next(), s.next()]), "a-");
  s.add(b, 5); // a dead slot takes nothing
  assert.equal(s.backlogged, false);
});

test("fifo: segments go in arrival order across flows; a removed flow's entries are skipped", () => {
  const s = new FifoScheduler<FakeFlow>();
  const a = new FlowSlot(new FakeFlow("a"));
  const b = new FlowSlot(new FakeFlow("b"));
  const c = new FlowSlot(new FakeFlow("c"));
  s.add(a, 3);
  s.add(b, 1);
  s.add(a, 1);
  s.add(c, 2);
  assert.equal(names([s.next(), s.next(), s.next(), s.next()]), "aaab");
  s.remove(a);
  assert.equal(names([s.next(), s.next(), s.next()]), "cc-");
  assert.equal(s.backlogged, false);
});

test("shared clock: N greedy flows get the bandwidth in total and, with fair, equal shares", () => {
  // 8 Mbps = 1000 bytes per ms; 1000-byte segments take 1 ms each
  for (const n of [1, 2, 8, 32]) {
    const clock = new SharedClock<FakeFlow>(8_000_000, "fair");
    const flows = Array.from({ length: n }, (_, i) => new FakeFlow(`f${i}`));
    for (const f of flows) clock.add(clock.attach(f), f.queue(1000, 1000, 0));
    // served at irregular moments, as timers fire: starts stay virtual, no bandwidth is lost
    let t = 0;
    for (let step = 0; step < 10_000 && t < 500; step++) {
      t += 0.3 + ((step * 7919) % 13) / 10;
      clock.serve(t);
    }
    const departed = flows.reduce((sum, f) => sum + f.departures.length, 0);
    // by t, about t segments have started (one per ms), no more
    assert.ok(departed >= Math.floor(t) - 1 && departed <= Math.ceil(t) + 1, `${n} flows: ${departed} segments by ${t.toFixed(1)} ms`);
    const counts = flows.map((f) => f.departures.length);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${n} flows: shares ${counts.join(",")}`);
    // departures of all flows together are exactly 1 ms apart
    const all = flows.flatMap((f) => f.departures).sort((x, y) => x - y);
    for (let i = 1; i < all.length; i++) assert.ok(Math.abs(all[i]! - all[i - 1]! - 1) < 1e-9, `gap at ${i}: ${all[i]! - all[i - 1]!}`);
  }
});

test("shared clock: a segment arriving at an idle link departs one serialization after its arrival", () => {
  const clock = new SharedClock<FakeFlow>(8_000, "fair"); // 1 byte per ms
  const f = new FakeFlow("f");
  const slot = clock.attach(f);
  clock.add(slot, f.queue(1, 100, 50));
  assert.equal(clock.serve(50), Infinity);
  assert.deepEqual(f.departures, [150]);
  clock.add(slot, f.queue(2, 100, 1000)); // idle again: starts at its arrival, then queues
  assert.equal(clock.serve(1000), 1100); // the second may start when the first has left
  clock.serve(1100);
  assert.deepEqual(f.departures, [150, 1100, 1200]);
});

test("shared clock: a small round trip beside bulk flows waits for the segment on the wire with fair, for the whole queue with fifo", () => {
  for (const [discipline, bulks] of [["fair", 1], ["fair", 32], ["fifo", 1]] as const) {
    const clock = new SharedClock<FakeFlow>(8_000_000, discipline); // 1 ms per 1000-byte segment
    const ping = new FakeFlow("ping");
    for (let i = 0; i < bulks; i++) {
      const bulk = new FakeFlow(`bulk${i}`);
      clock.add(clock.attach(bulk), bulk.queue(Math.ceil(400 / bulks), 1000, 0));
    }
    const pingSlot = clock.attach(ping);
    // the ping comes once every bulk flow has had its first turn (they all started at 0)
    for (let t = 0; t <= 500; t += 0.7) {
      if (ping.segments.length === 0 && t >= 100) clock.add(pingSlot, ping.queue(1, 64, t));
      clock.serve(t);
    }
    const arrival = ping.segments[0]!.arrival;
    const wait = ping.departures[0]! - arrival;
    // the segment on the wire (1 ms), the ping's own 64 bytes, and the serve granularity (0.7 ms)
    if (discipline === "fair") assert.ok(wait <= 1 + 0.064 + 0.7 + 1e-9, `fair, ${bulks} bulk flows: the ping waited ${wait} ms`);
    else assert.ok(wait >= 400 - arrival - 1, `fifo: the ping waited only ${wait} ms behind 400 ms of bulk`);
  }
});

test("shared clock: bandwidth 0 lets nothing depart", () => {
  const clock = new SharedClock<FakeFlow>(0, "fair");
  const f = new FakeFlow("f");
  clock.add(clock.attach(f), f.queue(3, 100, 0));
  assert.equal(clock.serve(1e9), Infinity);
  assert.deepEqual(f.departures, []);
});

test("shared clock: the cost per segment does not grow with the number of flows", () => {
  const perSegment = (n: number): number => {
    const clock = new SharedClock<FakeFlow>(8_000_000, "fair");
    const flows = Array.from({ length: n }, (_, i) => new FakeFlow(`f${i}`));
    const total = 200_000;
    for (const f of flows) clock.add(clock.attach(f), f.queue(Math.ceil(total / n), 1000, 0));
    const t0 = performance.now();
    clock.serve(total); // every segment starts by then
    const ms = performance.now() - t0;
    const served = flows.reduce((sum, f) => sum + f.departures.length, 0);
    assert.ok(served >= total, `${served} served`);
    return ms / served;
  };
  // 100 times the flows: a scan over the flows per segment would cost about 100 times as much
  // (memory caches make scattered flows dearer than two, so both sides have many)
  perSegment(100); // warm up the JIT
  const few = Math.min(perSegment(100), perSegment(100));
  const many = Math.min(perSegment(10_000), perSegment(10_000));
  console.log(`# per segment: ${(few * 1e6).toFixed(0)} ns with 100 flows, ${(many * 1e6).toFixed(0)} ns with 10,000`);
  assert.ok(many < 5 * few + 0.0005, `10,000 flows cost ${(many * 1e6).toFixed(0)} ns per segment against ${(few * 1e6).toFixed(0)} ns for 100`);
});

test("shared link: the queue bound is split between the members with bytes queued", () => {
  const spec = { ...cleanDirection(), bandwidth: 100_000_000, delay: 20 }; // BDP 250 KB
  let emptied = 0;
  const link = new SharedLink<FakeFlow>(100_000_000, "fair", spec, () => 0, () => emptied++);
  assert.equal(link.share, 500_000);
  const a = link.join(new FakeFlow("a"), spec);
  const b = link.join(new FakeFlow("b"), spec);
  link.setBusy(true);
  assert.equal(link.share, 500_000); // one member has bytes: it may hold them all
  link.setBusy(true);
  assert.equal(link.share, 250_000);
  // a member may take what the others leave unused: a bulk transfer beside a small request
  link.addQueued(100); // b: a 100-byte request
  assert.equal(link.allowance(0), 500_000 - 100, "a's allowance: the bound less b's bytes");
  link.addQueued(400_000); // a fills it
  assert.equal(link.allowance(100), 250_000, "b keeps at least its equal share");
  assert.equal(link.allowance(400_000), 500_000 - 100);
  link.leave(b, true, 100);
  assert.equal(link.queuedBytes, 400_000);
  assert.equal(link.share, 500_000);
  assert.equal(emptied, 0);
  link.leave(a, true, 400_000);
  assert.equal(link.queuedBytes, 0);
  assert.equal(emptied, 1, "the last member leaving drops the link");
  const small = new SharedLink<FakeFlow>(1_000_000, "fifo", { ...cleanDirection(), bandwidth: 1_000_000, delay: 10 }, () => 0);
  assert.equal(small.share, MIN_QUEUE_BYTES);
});
