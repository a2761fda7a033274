// Write moderation (link/moderation.ts) with an injected clock: within the budget every segment
// of a slow link is its own piece; above it, runs of up to ceil(rate / budget) segments, never
// spanning more than MAX_MODERATION_MS, none released early, a lone segment untouched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LinkTiming } from "../../src/link/timing.js";
import { MAX_MODERATION_MS, MODERATION_PERIOD_MS, WriteModeration } from "../../src/link/moderation.js";
import { cleanDirection, type DirectionSpec } from "../../src/profiles/types.js";
import { seededRandom as seeded } from "../support/random.js";

const SEG_MS = 1460 / 125; // 1 Mbps: 11.68 ms per 1460-byte segment

function oneMbps(over: Partial<DirectionSpec> = {}): DirectionSpec {
  return { ...cleanDirection(), bandwidth: 1_000_000, ...over };
}

/** A clock the test moves. */
function clock(): { now: () => number; at: number } {
  const c = { at: 0, now: () => c.at };
  return c;
}

test("within the budget a 1 Mbps link releases segment by segment, and the rate is measured per period", () => {
  const c = clock();
  const m = new WriteModeration(c.now, 2000);
  const t = new LinkTiming(oneMbps(), null, seeded(1), m);
  // 100 segments in the first period: 200 a second, far below 2000
  const pieces = t.schedule(0, 100 * 1460);
  assert.equal(pieces.length, 100);
  c.at = MODERATION_PERIOD_MS;
  assert.equal(m.segmentsPerWrite, 1);
  assert.equal(m.window(SEG_MS), 0);
});

test("above the budget consecutive segments merge: ceil(rate / budget) per write, never early, at most MAX_MODERATION_MS apart", () => {
  const c = clock();
  const m = new WriteModeration(c.now, 2000);
  // 200 links' worth of writes in one period: 17,123 a second
  m.count(Math.round((17_123 * MODERATION_PERIOD_MS) / 1000));
  c.at = MODERATION_PERIOD_MS;
  assert.equal(m.segmentsPerWrite, 9);
  const t = new LinkTiming(oneMbps({ delay: 50 }), null, seeded(1), m);
  const plain = new LinkTiming(oneMbps({ delay: 50 }), null, seeded(1));
  const bytes = 40 * 1460;
  const merged = t.schedule(c.at, bytes);
  const alone = plain.schedule(c.at, bytes);
  assert.equal(alone.length, 40);
  assert.equal(merged.reduce((n, p) => n + p.size, 0), bytes);
  assert.ok(merged.length <= Math.ceil(40 / 8) + 1, `${merged.length} writes for 40 segments`);
  for (const p of merged) {
    const segs = p.size / 1460;
    assert.ok(segs <= 9, `a write of ${segs} segments`);
    // released when its last segment is due (never before), so its first waited less than MAX_MODERATION_MS
    const last = alone[p.offset / 1460 + segs - 1]!;
    const first = alone[p.offset / 1460]!;
    assert.equal(p.release, last.release);
    assert.ok(p.release - first.release < MAX_MODERATION_MS, `first segment waited ${p.release - first.release} ms`);
  }
  // the last byte of the read leaves at its own time: the total rate does not change
  assert.equal(merged[merged.length - 1]!.release, alone[alone.length - 1]!.release);
});

test("moderation: a lone segment (a request, an answer) leaves at its own time, and a slicing link is never merged", () => {
  const c = clock();
  const m = new WriteModeration(c.now, 10);
  m.count(1000);
  c.at = MODERATION_PERIOD_MS;
  assert.ok(m.segmentsPerWrite > 1);
  const t = new LinkTiming(oneMbps({ delay: 30 }), null, seeded(1), m);
  const [p] = t.schedule(c.at, 200);
  assert.ok(Math.abs(p!.release - (c.at + 200 / 125 + 30)) < 1e-9, `released at ${p!.release}`);
  const sliced = new LinkTiming(oneMbps({ slice: { size: 100, variation: 0, delay: 0 } }), null, seeded(1), m);
  assert.equal(sliced.schedule(c.at, 1000).length, 10);
});

test("moderation ends once the rate falls back (a quiet period), and a budget of 0 never moderates", () => {
  const c = clock();
  const m = new WriteModeration(c.now, 2000);
  m.count(5000);
  c.at = MODERATION_PERIOD_MS;
  assert.equal(m.segmentsPerWrite, 5);
  // links idle for a while: the next measure finds no writes
  c.at += 10 * MODERATION_PERIOD_MS;
  assert.equal(m.segmentsPerWrite, 1);
  const never = new WriteModeration(c.now, 0);
  never.count(1e6);
  c.at += MODERATION_PERIOD_MS;
  assert.equal(never.segmentsPerWrite, 1);
  assert.equal(never.window(SEG_MS), 0);
});

test("moderation counts writes as they would be unmoderated, so merging does not lower the rate it measures", () => {
  const c = clock();
  const m = new WriteModeration(c.now, 100);
  const t = new LinkTiming(oneMbps(), null, seeded(1), m);
  for (let period = 0; period < 4; period++) {
    t.schedule(c.at, 100 * 1460); // 100 natural writes per period: 200 a second
    c.at += MODERATION_PERIOD_MS;
    assert.equal(m.segmentsPerWrite, 2, `period ${period}`);
  }
});
