// The token buckets behind `rateLimit` (src/requests/rate-limit.ts) on a clock the test moves:
// the budget over time, the wait until the next token, idle buckets dropped, memory bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_KEYS, TokenBuckets, retryAfterSeconds } from "../../src/requests/rate-limit.js";
import { parseRate } from "../../src/requests/answer-rule.js";

test("a bucket starts full, refills at the rate, and says how long until the next token", () => {
  let now = 0;
  const b = new TokenBuckets(10, 3, () => now);
  assert.deepEqual([b.take("a"), b.take("a"), b.take("a")], [0, 0, 0]);
  const wait = b.take("a");
  assert.ok(Math.abs(wait - 100) < 1e-6, `${wait}`);
  now += 50;
  assert.ok(Math.abs(b.take("a") - 50) < 1e-6);
  now += 50;
  assert.equal(b.take("a"), 0);
  // over 10 s of a sender asking every ms: burst + rate x T, within one token
  let passed = 0;
  const start = now;
  for (; now < start + 10_000; now += 1) if (b.take("a") === 0) passed++;
  assert.ok(Math.abs(passed - 100) <= 1, `${passed}`);
  assert.equal(retryAfterSeconds(1), 1);
  assert.equal(retryAfterSeconds(1001), 2);
});

test("buckets are per key; a refilled bucket is dropped; 250,000 distinct keys keep at most 100,000", () => {
  let now = 0;
  const b = new TokenBuckets(1, 2, () => now);
  assert.equal(b.take("x"), 0);
  assert.equal(b.take("y"), 0);
  assert.equal(b.size, 2);
  now += 5_000; // both refilled: the next take sweeps them
  b.take("z");
  assert.equal(b.size, 1);
  for (let i = 0; i < 250_000; i++) {
    b.take(`client-${i}`);
    now += 0.001;
  }
  assert.ok(b.size <= MAX_KEYS, `${b.size} buckets`);
  const heap = process.memoryUsage().heapUsed;
  assert.ok(heap < 400 * 1024 * 1024, `heap ${heap}`);
});

test("rates: 10/s, 600/min, 1000/h, a bare number; bad ones named", () => {
  assert.equal(parseRate("10/s"), 10);
  assert.equal(parseRate("600/min"), 10);
  assert.ok(Math.abs((parseRate("3600/h") as number) - 1) < 1e-9);
  assert.equal(parseRate(5), 5);
  assert.match(String(parseRate("fast")), /expected a rate like "10\/s"/);
  assert.match(String(parseRate(0)), /above 0/);
});
