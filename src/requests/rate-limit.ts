// `rateLimit`: a token bucket per key (a client's address, the proxy, a header's or metadata's
// value). A bucket starts full (`burst` tokens) and refills at `rate` a second; a request takes a
// token or is over the budget, and then learns how long until the next token. A bucket that has
// refilled is the same as none, so idle ones are dropped; past MAX_KEYS live buckets the least
// recently used tenth goes (those keys start full again: lenient, never stricter than configured).
import type { Now } from "../clock.js";

export const MAX_KEYS = 100_000;

interface Bucket {
  tokens: number;
  /** ms (the engine's clock) when `tokens` was counted */
  at: number;
}

export class TokenBuckets {
  /** by key, least recently used first */
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep: number;
  /** ms a drained bucket needs to fill up again */
  private readonly refillMs: number;

  constructor(
    /** tokens a second */
    readonly rate: number,
    readonly burst: number,
    private readonly now: Now,
    private readonly maxKeys = MAX_KEYS,
  ) {
    this.refillMs = (burst / rate) * 1000;
    this.lastSweep = now();
  }

  /** Buckets held now (for tests and status). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes a token for `key`: 0 when there was one, else the ms until the next one. */
  take(key: string): number {
    const now = this.now();
    if (now - this.lastSweep >= Math.max(1000, this.refillMs)) this.sweep(now);
    let b = this.buckets.get(key);
    if (b === undefined) {
      // full (the periodic sweep above dropped what had refilled): the least recently used tenth
      // goes in one pass (one at a time, each search from the front would cross the holes left)
      if (this.buckets.size >= this.maxKeys) this.evict(Math.ceil(this.maxKeys / 10));
      b = { tokens: this.burst, at: now };
    } else {
      this.buckets.delete(key); // re-inserted below: most recently used last
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.rate) / 1000);
      b.at = now;
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return ((1 - b.tokens) / this.rate) * 1000;
  }

  /** Drops the `n` least recently used buckets. */
  private evict(n: number): void {
    for (const key of this.buckets.keys()) {
      if (n-- <= 0) break;
      this.buckets.delete(key);
    }
  }

  /** Drops every bucket that has filled up again since it was last used. */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * this.rate) / 1000 >= this.burst) this.buckets.delete(key);
    }
  }
}

/** Whole seconds until the next token, at least 1 (HTTP Retry-After). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
