// Words and cells for the client verdicts, shared by the Markdown, JUnit and HTML sections.
import type { ClientStats, ExpectationResult } from "./clients.js";

export function msText(v: number | null): string {
  if (v === null) return "-";
  return v >= 1000 ? `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 2)}s` : `${Math.round(v)}ms`;
}

/** "max 3", "first 100ms, growth 1.5x", "max 5s", "opensAfter 10, pause 1s" */
export function limitText(e: ExpectationResult): string {
  const l = e.limit;
  switch (e.what) {
    case "retries":
      return `at most ${l.max} retries`;
    case "backoff":
      return `1st retry after >= ${msText(l.first!)}, growth >= ${l.growth}x`;
    case "timeout":
      return `gives up within ${msText(l.max!)}`;
    case "circuitBreaker":
      return `stops after <= ${l.opensAfter} failures for >= ${msText(l.pause!)}`;
  }
}

/** The testcase / row name: "payments retries: at most 3 retries". */
export function expectationName(e: ExpectationResult): string {
  return `expect ${e.proxy} ${e.what}: ${limitText(e)}`;
}

export function resultText(e: ExpectationResult): string {
  return e.got === null ? "not judged" : e.held ? "held" : "broken";
}

/** One line of a proxy's client figures. */
export function clientLine(proxy: string, c: ClientStats): string {
  const t = c.timeouts;
  const b = c.breaker;
  return [
    `${proxy}: ${c.requests} requests, ${c.failedAttempts} failed attempts`,
    `retries per failure p50 ${c.retries.perFailure.p50 ?? "-"} max ${c.retries.perFailure.max ?? "-"}`,
    `spacing ${c.retries.spacingMs.length ? c.retries.spacingMs.map(msText).join(", ") : "-"}`,
    `amplification ${c.amplification ?? "-"}x`,
    `timeouts: ${t.abandoned} abandoned (p50 ${msText(t.p50Ms)}, max ${msText(t.maxMs)}), ${t.neverGaveUp} never gave up`,
    `breaker: ${b.opened ? `opened after ${b.afterFailures} failures, paused ${msText(b.pauseMs)}` : `not seen (at most ${b.maxFailuresInRow} failures in a row)`}`,
  ].join("; ");
}
