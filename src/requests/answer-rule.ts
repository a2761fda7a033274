// The actions that act on the answer rather than the request (http and grpc proxies): the
// request reaches the server, what comes back is cut (`truncate`), replaced by something the
// client cannot use (`malform`), slowed (`throttle`); and `rateLimit`, a token bucket per key
// that answers in the server's place once the budget is spent. Parsed here into their canonical
// form (which is valid input again); a protocol that cannot carry one refuses it (engine.ts).
import type { FieldError } from "../field-error.js";
import { parseBandwidth, parseSize, showValue, UnitError } from "../units.js";

/** Canonical `truncate`: bytes of the body then close or reset; events of an event stream; grpc messages. */
export type TruncateSpec = { after: number; then: "close" | "reset" } | { events: number } | { messages: number } | { tc: true };

/** What a `truncate` counts in: which protocols can do which is the module's `truncateBy`. */
export type TruncateUnit = "bytes" | "events" | "messages" | "tc";

/** Canonical `rateLimit`: tokens a second, the bucket's size, and what a bucket is kept per. */
export interface RateLimitSpec {
  /** tokens (requests) a second */
  rate: number;
  /** the bucket's size: requests that may come at once */
  burst: number;
  /** client (address) | proxy | "header:NAME" | "metadata:KEY" */
  per: string;
}

export type AnswerAction =
  | { truncate: TruncateSpec }
  /** the body (http) or each message (grpc) replaced by this text */
  | { malform: string }
  /** bits a second the answer's body trickles at */
  | { throttle: number }
  | { rateLimit: RateLimitSpec };

export type AnswerActionKind = "truncate" | "malform" | "throttle" | "rateLimit";
export const ANSWER_ACTION_KINDS: readonly AnswerActionKind[] = ["truncate", "malform", "throttle", "rateLimit"];

/** The answer fault a protocol carries out for one request (`rateLimit` decides before it). */
export type AnswerFault =
  | { kind: "truncate"; bytes: number; then: "close" | "reset" }
  | { kind: "truncateEvents"; events: number }
  | { kind: "truncateMessages"; messages: number }
  /** dns over UDP: the answer has TC set and no records (dns answers it in the server's place) */
  | { kind: "truncateTc" }
  | { kind: "malform"; text: string }
  | { kind: "throttle"; bytesPerSecond: number };

export function truncateUnit(t: TruncateSpec): TruncateUnit {
  return "events" in t ? "events" : "messages" in t ? "messages" : "tc" in t ? "tc" : "bytes";
}

export function answerFaultOf(action: Exclude<AnswerAction, { rateLimit: RateLimitSpec }>): AnswerFault {
  if ("malform" in action) return { kind: "malform", text: action.malform };
  if ("throttle" in action) return { kind: "throttle", bytesPerSecond: action.throttle / 8 };
  const t = action.truncate;
  if ("events" in t) return { kind: "truncateEvents", events: t.events };
  if ("messages" in t) return { kind: "truncateMessages", messages: t.messages };
  if ("tc" in t) return { kind: "truncateTc" };
  return { kind: "truncate", bytes: t.after, then: t.then };
}

/** Short text for events and logs: `truncate after 100B`, `rateLimit 10/s burst 20 per client`. */
export function describeAnswerAction(a: AnswerAction): string {
  if ("malform" in a) return `malform ${JSON.stringify(a.malform.length > 40 ? a.malform.slice(0, 37) + "..." : a.malform)}`;
  if ("throttle" in a) return `throttle ${a.throttle}bps`;
  if ("rateLimit" in a) return `rateLimit ${a.rateLimit.rate}/s burst ${a.rateLimit.burst} per ${a.rateLimit.per}`;
  const t = a.truncate;
  if ("events" in t) return `truncate after ${t.events} events`;
  if ("messages" in t) return `truncate after ${t.messages} messages`;
  if ("tc" in t) return "truncate (TC set)";
  return `truncate after ${t.after}B${t.then === "reset" ? " then reset" : ""}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function positiveCount(v: unknown, path: string, what: string, errors: FieldError[]): number | undefined {
  const n = typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 1e9) return n;
  errors.push({ path, message: `expected a whole number of ${what} (0 or more), got ${showValue(v)}` });
  return undefined;
}

function size(v: unknown, path: string, errors: FieldError[]): number | undefined {
  try {
    return parseSize(v);
  } catch (err) {
    errors.push({ path, message: err instanceof UnitError ? err.message : String(err) });
    return undefined;
  }
}

const TRUNCATE_EXPECTED = "a size (truncate: 1KiB), {after: SIZE, then: close | reset}, {events: N} (an event stream), {messages: N} (grpc) or true (dns: TC set)";

function parseTruncate(v: unknown, at: string, errors: FieldError[]): TruncateSpec | undefined {
  if (v === true || (isRecord(v) && v.tc === true && Object.keys(v).length === 1)) return { tc: true };
  if (typeof v === "number" || typeof v === "string") {
    const n = size(v, at, errors);
    return n === undefined ? undefined : { after: n, then: "close" };
  }
  if (!isRecord(v)) {
    errors.push({ path: at, message: `expected ${TRUNCATE_EXPECTED}, got ${showValue(v)}` });
    return undefined;
  }
  const keys = Object.keys(v);
  if (v.events !== undefined || v.messages !== undefined) {
    const key = v.events !== undefined ? "events" : "messages";
    const extra = keys.filter((k) => k !== key);
    if (extra.length > 0) {
      errors.push({ path: `${at}.${extra[0]}`, message: `truncate: {${key}: N} takes no other field, got ${JSON.stringify(extra[0])}` });
      return undefined;
    }
    const n = positiveCount(v[key], `${at}.${key}`, key, errors);
    if (n === undefined) return undefined;
    return key === "events" ? { events: n } : { messages: n };
  }
  for (const k of keys) {
    if (k !== "after" && k !== "then") {
      errors.push({ path: `${at}.${k}`, message: `unknown field ${JSON.stringify(k)} (truncate takes after and then, or events, or messages)` });
      return undefined;
    }
  }
  if (v.after === undefined) {
    errors.push({ path: `${at}.after`, message: "required: the body's bytes that reach the client (a size: 100, 1KiB)" });
    return undefined;
  }
  const n = size(v.after, `${at}.after`, errors);
  const then = v.then ?? "close";
  if (then !== "close" && then !== "reset") {
    errors.push({ path: `${at}.then`, message: `expected close or reset, got ${showValue(then)}` });
    return undefined;
  }
  return n === undefined ? undefined : { after: n, then };
}

const RATE_UNITS: Record<string, number> = { s: 1, sec: 1, second: 1, m: 1 / 60, min: 1 / 60, minute: 1 / 60, h: 1 / 3600, hour: 1 / 3600 };
const RATE_EXPECTED = 'a rate like "10/s", "600/min", "1000/h" (a bare number is per second)';

/** `10/s`, `600/min`, `1000/h` or a number (a second) -> requests a second. */
export function parseRate(v: unknown): number | string {
  let n: number | undefined;
  if (typeof v === "number") n = v;
  else if (typeof v === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*([a-z]+))?\s*$/.exec(v);
    if (m) {
      const per = m[2] === undefined ? 1 : RATE_UNITS[m[2]];
      if (per !== undefined) n = Number(m[1]) * per;
    }
  }
  if (n === undefined || !Number.isFinite(n)) return `expected ${RATE_EXPECTED}, got ${showValue(v)}`;
  if (n <= 0) return `a rate must be above 0, got ${showValue(v)}`;
  if (n > 1e6) return `a rate may be at most 1000000/s, got ${showValue(v)}`;
  return n;
}

const PER_EXPECTED = 'client (the client\'s address), proxy (one bucket for all), "header:NAME" (http) or "metadata:KEY" (grpc)';

function parseRateLimit(v: unknown, at: string, errors: FieldError[]): RateLimitSpec | undefined {
  if (!isRecord(v)) {
    errors.push({ path: at, message: `expected {rate: "10/s", burst: N, per: client | proxy | "header:NAME" | "metadata:KEY"}, got ${showValue(v)}` });
    return undefined;
  }
  const before = errors.length;
  for (const k of Object.keys(v)) {
    if (k !== "rate" && k !== "burst" && k !== "per") errors.push({ path: `${at}.${k}`, message: `unknown field ${JSON.stringify(k)} (rateLimit takes rate, burst, per)` });
  }
  let rate: number | undefined;
  if (v.rate === undefined) errors.push({ path: `${at}.rate`, message: `required: ${RATE_EXPECTED}` });
  else {
    const r = parseRate(v.rate);
    if (typeof r === "string") errors.push({ path: `${at}.rate`, message: r });
    else rate = r;
  }
  let burst: number | undefined;
  if (v.burst !== undefined) {
    burst = positiveCount(v.burst, `${at}.burst`, "requests", errors);
    if (burst === 0) {
      errors.push({ path: `${at}.burst`, message: "expected at least 1 (a bucket that holds no token lets nothing through), got 0" });
      burst = undefined;
    }
  }
  const per = v.per ?? "client";
  if (typeof per !== "string" || !(per === "client" || per === "proxy" || /^header:[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(per) || /^metadata:[a-z0-9_.-]+$/i.test(per))) {
    errors.push({ path: `${at}.per`, message: `expected ${PER_EXPECTED}, got ${showValue(per)}` });
  }
  if (errors.length > before || rate === undefined) return undefined;
  const p = per as string;
  const colon = p.indexOf(":");
  const canonicalPer = colon > 0 ? `${p.slice(0, colon)}:${p.slice(colon + 1).toLowerCase()}` : p;
  return { rate, burst: burst ?? Math.max(1, Math.ceil(rate)), per: canonicalPer };
}

/** Parses the answer action `kind` of a rule at `at`; undefined (with errors) when it is bad. */
export function parseAnswerAction(kind: AnswerActionKind, item: Record<string, unknown>, at: string, errors: FieldError[]): AnswerAction | undefined {
  const path = `${at}.${kind}`;
  switch (kind) {
    case "truncate": {
      const t = parseTruncate(item.truncate, path, errors);
      return t === undefined ? undefined : { truncate: t };
    }
    case "malform": {
      const m = item.malform;
      if (typeof m === "string" || typeof m === "number") return { malform: String(m) };
      errors.push({ path, message: `expected the text that replaces the body (malform: "<html>Bad gateway</html>"), got ${showValue(m)}` });
      return undefined;
    }
    case "throttle": {
      try {
        const bps = parseBandwidth(item.throttle);
        if (bps === null) {
          errors.push({ path, message: `expected a bandwidth (unlimited throttles nothing: leave the rule out), got ${showValue(item.throttle)}` });
          return undefined;
        }
        if (bps < 8) {
          errors.push({ path, message: `expected at least 1 byte a second (8bps), got ${showValue(item.throttle)}` });
          return undefined;
        }
        return { throttle: bps };
      } catch (err) {
        errors.push({ path, message: err instanceof UnitError ? err.message : String(err) });
        return undefined;
      }
    }
    case "rateLimit": {
      const r = parseRateLimit(item.rateLimit, path, errors);
      return r === undefined ? undefined : { rateLimit: r };
    }
  }
}
