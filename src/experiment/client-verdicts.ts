// Each `expect:` limit against the figures of its proxy's clients: held, broken (the figure that
// shows it), or not judged (nothing happened that could show it: held, said in the text).
import type { ClientExpectation, ClientStats, ExpectationResult } from "./client-types.js";

function ms(v: number): string {
  return v >= 1000 && v % 100 === 0 ? `${v / 1000}s` : `${Math.round(v)}ms`;
}

function list(values: readonly number[]): string {
  return values.map((v) => ms(v)).join(", ");
}

export function judgeExpectation(e: ClientExpectation, s: ClientStats | undefined): ExpectationResult[] {
  const out: ExpectationResult[] = [];
  const none = (what: ExpectationResult["what"], limit: Record<string, number>, why: string): ExpectationResult => ({ proxy: e.proxy, what, limit, got: null, held: true, text: `not judged: ${why}` });
  if (e.retries) {
    const limit = { max: e.retries.max };
    const max = s?.retries.perFailure.max ?? null;
    if (s === undefined || max === null) out.push(none("retries", limit, "no request failed"));
    else {
      const held = max <= e.retries.max;
      out.push({
        proxy: e.proxy,
        what: "retries",
        limit,
        got: { max, p50: s.retries.perFailure.p50, amplification: s.amplification },
        held,
        text: `a failed request was retried up to ${max} times (p50 ${s.retries.perFailure.p50 ?? 0}, amplification ${s.amplification ?? 1}x); at most ${e.retries.max} expected`,
      });
    }
  }
  if (e.backoff) {
    const limit = { first: e.backoff.first, growth: e.backoff.growth };
    const spacing = s?.retries.spacingMs ?? [];
    if (spacing.length === 0) out.push(none("backoff", limit, "no retry seen"));
    else {
      const firstOk = spacing[0]! >= e.backoff.first;
      const slow = spacing.findIndex((v, i) => i > 0 && v < e.backoff!.growth * spacing[i - 1]!);
      const held = firstOk && slow < 0;
      const why = !firstOk
        ? `the 1st retry came after ${ms(spacing[0]!)} (at least ${ms(e.backoff.first)} expected)`
        : slow > 0
          ? `retry ${slow + 1} came ${ms(spacing[slow]!)} after the one before waited ${ms(spacing[slow - 1]!)} (growth ${e.backoff.growth}x expected)`
          : `backed off ${list(spacing)}`;
      out.push({ proxy: e.proxy, what: "backoff", limit, got: { spacingMs: spacing }, held, text: held ? `backed off ${list(spacing)}` : `${why}; spacing ${list(spacing)}` });
    }
  }
  if (e.timeout) {
    const limit = { max: e.timeout.max };
    const t = s?.timeouts;
    if (t === undefined || t.abandoned + t.neverGaveUp === 0) out.push(none("timeout", limit, "no request was held by a delay or lost"));
    else {
      const held = t.neverGaveUp === 0 && (t.maxMs === null || t.maxMs <= e.timeout.max);
      const text =
        t.neverGaveUp > 0
          ? `${t.neverGaveUp} held request${t.neverGaveUp === 1 ? "" : "s"} never gave up (waited out the delay); a timeout within ${ms(e.timeout.max)} expected`
          : `gave up after ${ms(t.p50Ms ?? 0)} (p50), ${ms(t.maxMs ?? 0)} at most; within ${ms(e.timeout.max)} expected`;
      out.push({ proxy: e.proxy, what: "timeout", limit, got: { abandoned: t.abandoned, p50Ms: t.p50Ms, maxMs: t.maxMs, neverGaveUp: t.neverGaveUp }, held, text });
    }
  }
  if (e.circuitBreaker) {
    const cb = e.circuitBreaker;
    const limit = { opensAfter: cb.opensAfter, pause: cb.pause };
    const b = s?.breaker;
    if (b === undefined || (!b.opened && b.maxFailuresInRow <= cb.opensAfter)) out.push(none("circuitBreaker", limit, `no client failed more than ${cb.opensAfter} times in a row`));
    else {
      const got = { opened: b.opened, afterFailures: b.afterFailures, pauseMs: b.pauseMs, maxFailuresInRow: b.maxFailuresInRow };
      if (!b.opened) out.push({ proxy: e.proxy, what: "circuitBreaker", limit, got, held: false, text: `kept calling after ${b.maxFailuresInRow} failures in a row (a pause after at most ${cb.opensAfter} expected)` });
      else {
        const held = b.afterFailures! <= cb.opensAfter && b.pauseMs! >= cb.pause;
        out.push({ proxy: e.proxy, what: "circuitBreaker", limit, got, held, text: `stopped calling after ${b.afterFailures} failures in a row for ${ms(b.pauseMs!)}; after at most ${cb.opensAfter}, for at least ${ms(cb.pause)} expected` });
      }
    }
  }
  return out;
}

/** Every expectation's verdicts, in the order written. */
export function judgeClients(expect: readonly ClientExpectation[], clients: Readonly<Record<string, ClientStats>>): ExpectationResult[] {
  return expect.flatMap((e) => judgeExpectation(e, clients[e.proxy]));
}
