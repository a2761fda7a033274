// The revert rules of applied impairments (ttl, session binding, clear, panic), with fake timers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ImpairmentBook, type Timers, type ChangeCause } from "../../src/agent/impairments.js";
import { cleanSpec, type ImpairmentSpec } from "../../src/profiles/types.js";
import type { ImpairmentState } from "../../src/control/protocol.js";

class FakeTimers implements Timers {
  time = 1_700_000_000_000;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.due.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number);
  }
  get pendingCount(): number {
    return this.due.size;
  }
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.due) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.due.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
    }
    this.time = end;
  }
}

function delayed(ms: number): ImpairmentSpec {
  const s = cleanSpec();
  s.down.delay = ms;
  return s;
}

function setup() {
  const timers = new FakeTimers();
  const changes: { proxy: string; profile: string | null; cause: ChangeCause }[] = [];
  const book = new ImpairmentBook((proxy, state: ImpairmentState | null, cause) => changes.push({ proxy, profile: state?.profile ?? null, cause }), timers);
  const profileOf = (proxy: string) => book.get(proxy)?.profile ?? null;
  return { timers, changes, book, profileOf };
}

test("apply replaces at once and reports the change", () => {
  const { book, changes, profileOf } = setup();
  const st = book.apply("pg", { profile: "a", spec: delayed(10), percent: 50, clients: ["10.0.0.0/8"] });
  assert.equal(st?.profile, "a");
  assert.equal(st?.percent, 50);
  assert.deepEqual(st?.clients, ["10.0.0.0/8"]);
  assert.equal(st?.expiresAt, null);
  book.apply("pg", { profile: "b", spec: delayed(20) });
  assert.equal(profileOf("pg"), "b");
  assert.equal(book.get("pg")?.percent, 100);
  assert.deepEqual(changes.map((c) => c.profile), ["a", "b"]);
  assert.equal(profileOf("other"), null);
});

test("a clean spec stores null, like clear", () => {
  const { book, changes } = setup();
  book.apply("pg", { profile: "a", spec: delayed(10) });
  assert.equal(book.apply("pg", { profile: "clean", spec: cleanSpec() }), null);
  assert.equal(book.get("pg"), null);
  assert.deepEqual(changes.at(-1), { proxy: "pg", profile: null, cause: "apply" });
});

test("ttl reverts to what was there before and sets expiresAt", () => {
  const { book, timers, changes, profileOf } = setup();
  book.apply("pg", { profile: "base", spec: delayed(10) });
  const st = book.apply("pg", { profile: "burst", spec: delayed(50) }, { ttlMs: 300 });
  assert.equal(st?.expiresAt, new Date(timers.time + 300).toISOString());
  timers.advance(299);
  assert.equal(profileOf("pg"), "burst");
  timers.advance(1);
  assert.equal(profileOf("pg"), "base");
  assert.deepEqual(changes.at(-1), { proxy: "pg", profile: "base", cause: "ttl" });
});

test("ttl on a clean proxy reverts to clean", () => {
  const { book, timers } = setup();
  book.apply("pg", { profile: "burst", spec: delayed(50) }, { ttlMs: 100 });
  timers.advance(100);
  assert.equal(book.get("pg"), null);
});

test("a later apply wins over an earlier ttl", () => {
  const { book, timers, changes, profileOf } = setup();
  book.apply("pg", { profile: "a", spec: delayed(10) }, { ttlMs: 100 });
  book.apply("pg", { profile: "b", spec: delayed(20) });
  const n = changes.length;
  timers.advance(200);
  assert.equal(profileOf("pg"), "b");
  assert.equal(changes.length, n, "an expired non-current apply changes nothing");
});

test("a later clear wins over an earlier ttl", () => {
  const { book, timers, profileOf } = setup();
  book.apply("pg", { profile: "base", spec: delayed(10) });
  book.apply("pg", { profile: "a", spec: delayed(20) }, { ttlMs: 100 });
  book.clear("pg");
  timers.advance(200);
  assert.equal(profileOf("pg"), null);
});

test("reverting skips entries whose own ttl already ran out", () => {
  const { book, timers, profileOf } = setup();
  book.apply("pg", { profile: "base", spec: delayed(10) });
  book.apply("pg", { profile: "a", spec: delayed(20) }, { ttlMs: 100 });
  book.apply("pg", { profile: "b", spec: delayed(30) }, { ttlMs: 500 });
  timers.advance(100); // a ends while b is current: nothing changes
  assert.equal(profileOf("pg"), "b");
  timers.advance(400); // b ends: a is dead, so back to base
  assert.equal(profileOf("pg"), "base");
});

test("nested ttls unwind in turn", () => {
  const { book, timers, profileOf } = setup();
  book.apply("pg", { profile: "a", spec: delayed(20) }, { ttlMs: 500 });
  book.apply("pg", { profile: "b", spec: delayed(30) }, { ttlMs: 100 });
  timers.advance(100);
  assert.equal(profileOf("pg"), "a");
  timers.advance(400);
  assert.equal(profileOf("pg"), null);
});

test("session end goes straight back to before the session: one change per proxy, never through its older applies", () => {
  const { book, changes, profileOf } = setup();
  book.apply("pg", { profile: "before", spec: delayed(10) });
  book.apply("pg", { profile: "s1", spec: delayed(20) }, { session: "S" });
  book.apply("redis", { profile: "s2", spec: delayed(30) }, { session: "S" });
  book.apply("pg", { profile: "s3", spec: delayed(40) }, { session: "S" });
  const n = changes.length;
  assert.deepEqual(book.endSession("S").sort(), ["pg", "redis"]);
  assert.equal(profileOf("pg"), "before");
  assert.equal(profileOf("redis"), null);
  assert.deepEqual(
    changes.slice(n).map((c) => `${c.proxy}:${c.profile}`).sort(),
    ["pg:before", "redis:null"],
  );
  assert.ok(changes.slice(n).every((c) => c.cause === "session"));
  assert.deepEqual(book.endSession("S"), [], "a session ends once");
});

test("another controller's later apply survives the session's end", () => {
  const { book, profileOf } = setup();
  book.apply("pg", { profile: "s1", spec: delayed(20) }, { session: "S" });
  book.apply("pg", { profile: "other", spec: delayed(30) }, { session: "T" });
  book.endSession("S");
  assert.equal(profileOf("pg"), "other");
  book.endSession("T"); // s1 is dead too: back to clean, never to the closed session's apply
  assert.equal(profileOf("pg"), null);
});

test("unbound applies are not touched by a session end", () => {
  const { book, profileOf } = setup();
  book.apply("pg", { profile: "kept", spec: delayed(20) });
  book.endSession("S");
  assert.equal(profileOf("pg"), "kept");
});

test("a bound apply with a ttl reverts on whichever comes first", () => {
  const { book, timers, profileOf } = setup();
  book.apply("pg", { profile: "x", spec: delayed(20) }, { session: "S", ttlMs: 100 });
  timers.advance(100);
  assert.equal(profileOf("pg"), null);
  book.apply("pg", { profile: "y", spec: delayed(20) });
  assert.deepEqual(book.endSession("S"), []);
  assert.equal(profileOf("pg"), "y");
});

test("panic clears every proxy and cancels every pending ttl", () => {
  const { book, timers, changes, profileOf } = setup();
  book.apply("pg", { profile: "base", spec: delayed(10) });
  book.apply("pg", { profile: "a", spec: delayed(20) }, { ttlMs: 100 });
  book.apply("redis", { profile: "b", spec: delayed(20) }, { session: "S" });
  assert.deepEqual(book.panic().proxies.sort(), ["pg", "redis"]);
  assert.equal(profileOf("pg"), null);
  assert.equal(profileOf("redis"), null);
  assert.equal(timers.pendingCount, 0);
  const n = changes.length;
  timers.advance(1000);
  book.endSession("S");
  assert.equal(changes.length, n, "nothing comes back after a panic");
  assert.equal(profileOf("pg"), null);
});

test("forget drops a proxy's state and its timers", () => {
  const { book, timers, changes } = setup();
  book.apply("pg", { profile: "a", spec: delayed(20) }, { ttlMs: 100, session: "S" });
  book.forget("pg");
  assert.equal(timers.pendingCount, 0);
  const n = changes.length;
  timers.advance(200);
  assert.deepEqual(book.endSession("S"), []);
  assert.equal(changes.length, n);
  assert.equal(book.get("pg"), null);
});

test("a bad ttl is refused", () => {
  const { book } = setup();
  assert.throws(() => book.apply("pg", { profile: "a", spec: delayed(1) }, { ttlMs: 0 }), /ttl/);
  assert.throws(() => book.apply("pg", { profile: "a", spec: delayed(1) }, { ttlMs: Number.NaN }), /ttl/);
  assert.equal(book.get("pg"), null);
});

test("the history keeps only what a revert can reach: a permanent apply or a clear drops what is below", () => {
  const { book, timers } = setup();
  for (let i = 0; i < 1000; i++) book.apply("pg", { profile: `p${i}`, spec: delayed(10 + (i % 5)) });
  assert.equal(book.depth("pg"), 1, "unbound applies without ttl replace each other");
  book.apply("pg", { profile: "t", spec: delayed(20) }, { ttlMs: 100 });
  book.clear("pg");
  assert.equal(book.depth("pg"), 0);
  assert.equal(timers.pendingCount, 0, "a clear cancels the ttl of what it replaced");
});

test("a ramp re-applying in one session keeps the stack at two entries, and the session's end returns to before it", () => {
  const { book, changes, profileOf } = setup();
  book.apply("pg", { profile: "before", spec: delayed(10) });
  for (let i = 0; i < 10_000; i++) book.apply("pg", { profile: "ramp", spec: delayed(20 + (i % 100)) }, { session: "S" });
  assert.equal(book.depth("pg"), 2);
  assert.deepEqual(book.boundSessions(), ["S"]);
  const n = changes.length;
  book.endSession("S");
  assert.deepEqual(changes.slice(n).map((c) => c.profile), ["before"]);
  assert.equal(profileOf("pg"), "before");
  assert.deepEqual(book.boundSessions(), []);
});

test("repeated applies with a ttl cover the earlier ones; a shorter ttl on top keeps the longer one below", () => {
  const { book, timers, profileOf } = setup();
  book.apply("pg", { profile: "base", spec: delayed(10) });
  for (let i = 0; i < 100; i++) {
    book.apply("pg", { profile: "burst", spec: delayed(50) }, { ttlMs: 2000 });
    timers.advance(10);
  }
  assert.equal(book.depth("pg"), 2, "each later expiry covers the earlier ones");
  book.apply("pg", { profile: "blip", spec: delayed(70) }, { ttlMs: 100 });
  assert.equal(book.depth("pg"), 3, "a shorter ttl does not cover the longer one below it");
  timers.advance(150);
  assert.equal(profileOf("pg"), "burst", "the blip ended, the burst is still on");
  timers.advance(2000);
  assert.equal(profileOf("pg"), "base");
  assert.equal(timers.pendingCount, 0);
});

test("a bound apply with a ttl under another session's bound apply: each end reverts only what it must", () => {
  const { book, timers, profileOf } = setup();
  book.apply("pg", { profile: "a", spec: delayed(10) }, { session: "S", ttlMs: 1000 });
  book.apply("pg", { profile: "b", spec: delayed(20) }, { session: "T" });
  assert.equal(book.depth("pg"), 2, "T's apply does not cover S's (they end at different times)");
  book.endSession("T");
  assert.equal(profileOf("pg"), "a");
  timers.advance(1000);
  assert.equal(profileOf("pg"), null);
  assert.deepEqual(book.boundSessions(), []);
});

test("clear and panic report the sessions whose bound applies they removed", () => {
  const { book } = setup();
  book.apply("pg", { profile: "a", spec: delayed(10) }, { session: "S" });
  book.apply("redis", { profile: "b", spec: delayed(10) }, { session: "T" });
  assert.deepEqual(book.clear("pg").sessions, ["S"]);
  assert.deepEqual(book.clear("pg").sessions, []);
  book.apply("pg", { profile: "c", spec: delayed(10) }, { session: "U" });
  assert.deepEqual(book.panic().sessions.sort(), ["T", "U"]);
});
