// The attempts of one proxy's clients, as the agents' request events tell them, folded into the
// figures of `clients.PROXY` as they come: which attempts are retries (same identity, same client
// address, after a failed attempt, within 30 s), their spacing, amplification, timeouts and a
// circuit breaker's pause. Memory is bounded: a window of open requests per client address
// (dropped when idle), capped samples for the medians, a few examples for the HTML timeline.
import type { ClientStats, FailedRequestExample } from "./client-types.js";

/** What the window reads of a `requests` event (control/protocol RequestEventData). */
export interface SeenRequest {
  client: string;
  request: string;
  outcome: string;
  /** epoch ms at arrival */
  at: number;
  /** ms to the answer's start (or, abandoned, to when the client gave up) */
  ms?: number;
  identity?: string;
  answer?: "ok" | "error";
  abandoned?: boolean;
}

/** A retry comes within this long of the failed attempt before it. */
export const RETRY_WINDOW_MS = 30_000;
/** The fewest failures in a row before a pause can be a circuit breaker's. */
const BREAKER_MIN_FAILURES = 2;
/** A breaker's pause: at least this long, and this many times the client's usual spacing. */
const BREAKER_MIN_PAUSE_MS = 100;
const BREAKER_PAUSE_FACTOR = 5;
const MAX_CLIENTS = 4096;
const MAX_OPEN_PER_CLIENT = 4096;
const MAX_ATTEMPTS_KEPT = 32;
const SAMPLE_CAP = 4096;
const RECENT_GAPS = 64;
const EXAMPLES = 5;

interface Attempt {
  at: number;
  /** when its answer came or the client gave up (at + ms), else at */
  end: number;
  outcome: string;
  failed: boolean;
}

interface Chain {
  request: string;
  attempts: Attempt[];
  /** attempts after the first */
  retries: number;
  /** the latest attempt */
  last: Attempt;
  firstFailed: boolean;
}

interface ClientState {
  open: Map<string, Chain>;
  lastAt: number;
  /** gaps between this client's arrivals, the latest RECENT_GAPS */
  gaps: number[];
  failuresInRow: number;
  lastFailureEnd: number;
}

/** A bounded sample for medians (reservoir: every value has the same chance to stay). */
class Reservoir {
  readonly values: number[] = [];
  private seen = 0;

  add(v: number): void {
    this.seen++;
    if (this.values.length < SAMPLE_CAP) this.values.push(v);
    else {
      const i = Math.floor(Math.random() * this.seen);
      if (i < SAMPLE_CAP) this.values[i] = v;
    }
  }

  quantile(q: number): number | null {
    if (this.values.length === 0) return null;
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
  }
}

/** Outcomes that fail the attempt whatever the server said (an answer cut or garbled, a rate limit's refusal). */
const FAILING = new Set(["failed", "lost", "reset", "truncated", "malformed", "limited"]);

function isFailed(e: SeenRequest): boolean {
  return FAILING.has(e.outcome) || e.answer === "error" || e.abandoned === true;
}

function held(e: SeenRequest): boolean {
  return e.outcome === "delayed" || e.outcome === "lost";
}

/** The client's address without its port: a retry may come on a new connection. */
export function clientAddress(client: string): string {
  const m = /^\[?([^\]]*?)\]?:\d+$/.exec(client);
  return m ? m[1]! : client;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function round1(v: number | null): number | null {
  return v === null ? null : Math.round(v * 10) / 10;
}

export class ClientWindow {
  private readonly clients = new Map<string, ClientState>();
  private requests = 0;
  private distinct = 0;
  private retryCount = 0;
  private failedAttempts = 0;
  private readonly perFailure = new Reservoir();
  private maxRetries: number | null = null;
  private readonly spacing: Reservoir[] = [];
  private abandoned = 0;
  private readonly abandonedMs = new Reservoir();
  private maxAbandonedMs: number | null = null;
  private neverGaveUp = 0;
  private breaker: { afterFailures: number; pauseMs: number } | null = null;
  private longestFailureRun = 0;
  private readonly examples: FailedRequestExample[] = [];
  private latest = 0;

  /** One attempt the agent saw. Events without an identity count as requests but are never retries. */
  add(e: SeenRequest): void {
    this.requests++;
    const failed = isFailed(e);
    if (failed) this.failedAttempts++;
    if (e.abandoned === true) {
      this.abandoned++;
      if (e.ms !== undefined) {
        this.abandonedMs.add(e.ms);
        this.maxAbandonedMs = Math.max(this.maxAbandonedMs ?? 0, e.ms);
      }
    } else if (held(e)) this.neverGaveUp++;
    if (e.at > this.latest) this.latest = e.at;
    const address = clientAddress(e.client);
    let c = this.clients.get(address);
    if (c === undefined) {
      if (this.clients.size >= MAX_CLIENTS) this.sweep(true);
      c = { open: new Map(), lastAt: e.at, gaps: [], failuresInRow: 0, lastFailureEnd: 0 };
      this.clients.set(address, c);
    } else if (e.at >= c.lastAt) {
      c.gaps.push(e.at - c.lastAt);
      if (c.gaps.length > RECENT_GAPS) c.gaps.shift();
    }
    const attempt: Attempt = { at: e.at, end: e.at + (e.ms ?? 0), outcome: e.outcome, failed };
    this.chain(c, e, attempt, address);
    this.watchBreaker(c, e, attempt);
    c.lastAt = Math.max(c.lastAt, e.at);
    if (this.requests % 1024 === 0) this.sweep(false);
  }

  /** Adds the attempt to its request's chain (a retry) or starts one; true when it is a retry. */
  private chain(c: ClientState, e: SeenRequest, attempt: Attempt, address: string): boolean {
    const id = e.identity;
    const prev = id === undefined ? undefined : c.open.get(id);
    // a retry comes after the failed attempt's answer (or the client's giving up): the same
    // request sent alongside it on another connection is a request of its own
    if (prev !== undefined && prev.last.failed && attempt.at >= prev.last.end && attempt.at - prev.last.end <= RETRY_WINDOW_MS) {
      const gap = attempt.at - prev.last.end;
      const k = prev.retries;
      (this.spacing[k] ??= new Reservoir()).add(gap);
      prev.retries++;
      this.retryCount++;
      if (prev.attempts.length < MAX_ATTEMPTS_KEPT) prev.attempts.push(attempt);
      prev.last = attempt;
      return true;
    }
    if (prev !== undefined) this.finish(prev, address);
    this.distinct++;
    if (id === undefined) {
      if (attempt.failed) this.finish({ request: e.request, attempts: [attempt], retries: 0, last: attempt, firstFailed: true }, address);
      return false;
    }
    if (prev === undefined && c.open.size >= MAX_OPEN_PER_CLIENT) this.expire(c, address, Infinity);
    c.open.set(id, { request: e.request, attempts: [attempt], retries: 0, last: attempt, firstFailed: attempt.failed });
    return false;
  }

  /**
   * Failures in a row, then a pause far longer than the client's usual spacing before its next
   * request (often the same request: a breaker's half-open probe): a circuit breaker opened.
   */
  private watchBreaker(c: ClientState, e: SeenRequest, attempt: Attempt): void {
    if (this.breaker === null && c.failuresInRow >= BREAKER_MIN_FAILURES) {
      const pause = e.at - c.lastFailureEnd;
      const usual = c.gaps.length > 1 ? median(c.gaps.slice(0, -1)) : 0;
      if (pause >= BREAKER_MIN_PAUSE_MS && pause >= BREAKER_PAUSE_FACTOR * usual) this.breaker = { afterFailures: c.failuresInRow, pauseMs: Math.round(pause) };
    }
    if (attempt.failed) {
      c.failuresInRow++;
      c.lastFailureEnd = Math.max(c.lastFailureEnd, attempt.end);
      this.longestFailureRun = Math.max(this.longestFailureRun, c.failuresInRow);
    } else c.failuresInRow = 0;
  }

  /** A request is over (no more retries can come): its retries count for perFailure, its attempts may be an example. */
  private finish(ch: Chain, address: string): void {
    if (!ch.firstFailed) return;
    this.perFailure.add(ch.retries);
    this.maxRetries = Math.max(this.maxRetries ?? 0, ch.retries);
    const example: FailedRequestExample = {
      client: address,
      request: ch.request,
      attempts: ch.attempts.map((a) => ({ atMs: Math.round(a.at - ch.attempts[0]!.at), outcome: a.outcome, failed: a.failed })),
    };
    if (this.examples.length < EXAMPLES) this.examples.push(example);
    else if (ch.retries > 0) {
      // prefer requests that were retried: replace one that was not
      const i = this.examples.findIndex((x) => x.attempts.length === 1);
      if (i >= 0) this.examples[i] = example;
    }
  }

  private expire(c: ClientState, address: string, olderThan: number): void {
    for (const [id, ch] of c.open) {
      if (olderThan === Infinity || ch.last.end < olderThan) {
        this.finish(ch, address);
        c.open.delete(id);
        if (olderThan === Infinity) return; // one place made
      }
    }
  }

  /** Ends requests idle for the retry window and forgets idle clients (all = the oldest too, when full). */
  private sweep(all: boolean): void {
    const before = this.latest - RETRY_WINDOW_MS;
    let oldest: [string, ClientState] | null = null;
    for (const [address, c] of this.clients) {
      this.expire(c, address, before);
      if (c.open.size === 0 && c.lastAt < before) this.clients.delete(address);
      else if (oldest === null || c.lastAt < oldest[1].lastAt) oldest = [address, c];
    }
    if (all && this.clients.size >= MAX_CLIENTS && oldest !== null) {
      for (const ch of oldest[1].open.values()) this.finish(ch, oldest[0]);
      this.clients.delete(oldest[0]);
    }
  }

  /** Running counts (for a live view: `netimpair watch --requests`); nothing is ended by asking. */
  get counts(): { requests: number; retries: number; failed: number } {
    return { requests: this.requests, retries: this.retryCount, failed: this.failedAttempts };
  }

  /** The figures at the end of the run (open requests count as over: call it once, last). */
  stats(): ClientStats {
    for (const [address, c] of this.clients) {
      for (const ch of c.open.values()) this.finish(ch, address);
      c.open.clear();
    }
    const spacingMs: number[] = [];
    for (const r of this.spacing) {
      const m = r.quantile(0.5);
      if (m === null) break;
      spacingMs.push(round1(m)!);
    }
    return {
      requests: this.requests,
      failedAttempts: this.failedAttempts,
      retries: { perFailure: { p50: this.perFailure.quantile(0.5), max: this.maxRetries }, spacingMs },
      amplification: this.distinct === 0 ? null : Math.round((this.requests / this.distinct) * 100) / 100,
      timeouts: { abandoned: this.abandoned, p50Ms: round1(this.abandonedMs.quantile(0.5)), maxMs: round1(this.maxAbandonedMs), neverGaveUp: this.neverGaveUp },
      breaker: { opened: this.breaker !== null, afterFailures: this.breaker?.afterFailures ?? null, pauseMs: this.breaker?.pauseMs ?? null, maxFailuresInRow: this.longestFailureRun },
      examples: [...this.examples],
    };
  }
}
