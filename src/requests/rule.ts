// The protocol-neutral request rule: what a profile's `requests:` list holds once validated.
// A rule is `match` (fields the proxy's protocol frames), one action, and when it may fire:
// `probability` per request, `times` injections per apply across the proxy, `after` requests
// that pass first. The canonical form (this type) is also valid input, so a resolved spec
// round-trips. Protocol-specific checks (which match fields exist, what a `fail` looks like)
// happen when the rules meet a proxy's protocol (see compile.ts).
import type { FieldError } from "../field-error.js";
import { parseDuration, parseProbability, showValue, UnitError } from "../units.js";
import { ANSWER_ACTION_KINDS, describeAnswerAction, parseAnswerAction, type AnswerAction, type AnswerActionKind } from "./answer-rule.js";

export const PROTOCOLS = ["tcp", "http", "grpc", "postgres", "mysql", "redis", "udp", "dns"] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

export type ActionKind = "fail" | "delay" | "lose" | "reset" | "answer" | AnswerActionKind;
export const ACTION_KINDS: readonly ActionKind[] = ["fail", "delay", "lose", "reset", "answer", ...ANSWER_ACTION_KINDS];

/** A match value as given: text (regex or glob by field), a list of names, or a map of globs. */
export type MatchValue = string | string[] | Record<string, string>;

export type RequestAction =
  /** answer with the protocol's own error; the shape is the protocol's (code, errno, error, status...) */
  | { fail: Record<string, unknown> }
  /** ms the request waits before it goes upstream */
  | { delay: number }
  /** forwarded; the answer is swallowed and the client reset */
  | { lose: "response" }
  /** the connection is reset when the request arrives; "stream": only its stream (gRPC RST_STREAM) */
  | { reset: true | "stream" }
  /** an answer made by the agent in the server's place; its shape is the protocol's (dns: empty | {records}) */
  | { answer: "empty" | Record<string, unknown> }
  /** truncate, malform, throttle the answer; rateLimit (answer-rule.ts) */
  | AnswerAction;

export interface RequestRuleBase {
  /** field -> value; {} fits every request */
  match: Record<string, MatchValue>;
  /** per request, 0..1 */
  probability: number;
  /** at most this many injections per apply across the proxy; null = no limit */
  times: number | null;
  /** matching requests that pass before the rule may fire */
  after: number;
}

export type RequestRule = RequestRuleBase & RequestAction;

export function actionOf(rule: RequestRule): ActionKind {
  if ("fail" in rule) return "fail";
  if ("delay" in rule) return "delay";
  if ("lose" in rule) return "lose";
  if ("reset" in rule) return "reset";
  if ("answer" in rule) return "answer";
  if ("truncate" in rule) return "truncate";
  if ("malform" in rule) return "malform";
  if ("throttle" in rule) return "throttle";
  return "rateLimit";
}

/** A short text naming a rule in events and logs: `requests[1] {query: "^COMMIT"} fail {code: 40001}`. */
export function describeRule(rule: RequestRule, index: number): string {
  const what =
    "fail" in rule
      ? `fail ${JSON.stringify(rule.fail)}`
      : "delay" in rule
        ? `delay ${rule.delay}ms`
        : "lose" in rule
          ? "lose response"
          : "reset" in rule
            ? rule.reset === "stream"
              ? "reset stream"
              : "reset"
            : "answer" in rule
              ? `answer ${JSON.stringify(rule.answer)}`
              : describeAnswerAction(rule);
  return `requests[${index}] match ${JSON.stringify(rule.match)} ${what}`;
}

const RULE_FIELDS = ["match", "fail", "delay", "lose", "reset", "answer", ...ANSWER_ACTION_KINDS, "probability", "times", "after"];
const ACTIONS_TEXT = "fail, delay, lose, reset, answer (dns), truncate, malform, throttle or rateLimit";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function count(v: unknown, path: string, errors: FieldError[]): number | undefined {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === "string" && /^\d+$/.test(v.trim())) return Number(v.trim());
  errors.push({ path, message: `expected a whole number of requests (0 or more), got ${showValue(v)}` });
  return undefined;
}

/**
 * Keys no match map may have: copied into an object they would set its prototype or shadow its
 * own machinery (`match: {__proto__: ...}` once resolved to `match: {}`, every request matching).
 */
const RESERVED_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** An error for a reserved key of a map at `path`, or null. */
function reservedKey(key: string, path: string): FieldError | null {
  if (!RESERVED_KEYS.has(key)) return null;
  return { path: `${path}.${key}`, message: `${JSON.stringify(key)} cannot be a key here (reserved: ${[...RESERVED_KEYS].join(", ")})` };
}

function matchValue(v: unknown, path: string, errors: FieldError[]): MatchValue | undefined {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string")) return v as string[];
  if (isRecord(v) && Object.values(v).every((x) => typeof x === "string")) {
    const bad = Object.keys(v)
      .map((k) => reservedKey(k, path))
      .filter((e): e is FieldError => e !== null);
    if (bad.length > 0) {
      errors.push(...bad);
      return undefined;
    }
    return { ...(v as Record<string, string>) };
  }
  errors.push({ path, message: `expected text, a non-empty list of names, or a map of name: glob, got ${showValue(v)}` });
  return undefined;
}

/**
 * Validates a raw `requests:` list (YAML, JSON, or the canonical form). `path` is the list's
 * field path (e.g. "requests" or "spec.requests"); every error names the field under it.
 */
export function parseRequestRules(raw: unknown, path: string, errors: FieldError[]): RequestRule[] {
  if (raw === null || raw === "off" || raw === "none") return [];
  if (!Array.isArray(raw)) {
    errors.push({ path, message: `expected a list of rules ({match, fail|delay|lose|reset|answer|truncate|malform|throttle|rateLimit, ...}), got ${showValue(raw)}` });
    return [];
  }
  const rules: RequestRule[] = [];
  raw.forEach((item: unknown, i) => {
    const at = `${path}[${i}]`;
    const rule = parseRule(item, at, errors);
    if (rule) rules.push(rule);
  });
  return rules;
}

function parseRule(item: unknown, at: string, errors: FieldError[]): RequestRule | undefined {
  if (!isRecord(item)) {
    errors.push({ path: at, message: `expected a rule ({match, fail|delay|lose|reset, ...}), got ${showValue(item)}` });
    return undefined;
  }
  const before = errors.length;
  for (const key of Object.keys(item)) {
    if (!RULE_FIELDS.includes(key)) errors.push({ path: `${at}.${key}`, message: `unknown field ${JSON.stringify(key)} (known fields: ${RULE_FIELDS.join(", ")})` });
  }
  const match: Record<string, MatchValue> = {};
  if (item.match !== undefined && item.match !== null) {
    if (!isRecord(item.match)) errors.push({ path: `${at}.match`, message: `expected a mapping of match fields ({} fits every request), got ${showValue(item.match)}` });
    else {
      for (const [k, v] of Object.entries(item.match)) {
        const reserved = reservedKey(k, `${at}.match`);
        if (reserved !== null) {
          errors.push(reserved);
          continue;
        }
        const m = matchValue(v, `${at}.match.${k}`, errors);
        if (m !== undefined) match[k] = m;
      }
    }
  }
  const actions = ACTION_KINDS.filter((a) => item[a] !== undefined);
  if (actions.length !== 1) {
    errors.push({
      path: at,
      message: actions.length === 0 ? `a rule needs one action: ${ACTIONS_TEXT}` : `a rule takes one action, got ${actions.join(" and ")}`,
    });
  }
  let action: RequestAction | undefined;
  const kind = actions[0];
  if (kind === "fail") {
    const f = item.fail;
    if (isRecord(f)) action = { fail: { ...f } };
    else if (typeof f === "string" || typeof f === "number") action = { fail: { error: f } };
    else errors.push({ path: `${at}.fail`, message: `expected the protocol's error ({code: "40001"}, {errno: 1213}, {error: OOM}, {status: 503}), got ${showValue(f)}` });
  } else if (kind === "delay") {
    try {
      const ms = parseDuration(item.delay);
      if (ms <= 0) errors.push({ path: `${at}.delay`, message: `expected a duration above 0, got ${showValue(item.delay)}` });
      action = { delay: ms };
    } catch (err) {
      errors.push({ path: `${at}.delay`, message: err instanceof UnitError ? err.message : String(err) });
    }
  } else if (kind === "lose") {
    if (item.lose === "response") action = { lose: "response" };
    else errors.push({ path: `${at}.lose`, message: `expected lose: response, got ${showValue(item.lose)}` });
  } else if (kind === "reset") {
    if (item.reset === true || item.reset === "connection") action = { reset: true };
    else if (item.reset === "stream") action = { reset: "stream" };
    else errors.push({ path: `${at}.reset`, message: `expected reset: true (or connection), or reset: stream (grpc: only the call's stream), got ${showValue(item.reset)}` });
  } else if (kind === "answer") {
    // the protocol checks the shape when the rule meets a proxy (dns: empty | {records: [...]})
    const a = item.answer;
    if (a === "empty") action = { answer: "empty" };
    else if (isRecord(a)) action = { answer: { ...a } };
    else errors.push({ path: `${at}.answer`, message: `expected answer: empty or answer: {records: [{type: A, data: 127.0.0.9, ttl: 5}]} (dns), got ${showValue(a)}` });
  } else if (kind !== undefined) {
    action = parseAnswerAction(kind, item, at, errors);
  }
  let probability = 1;
  if (item.probability !== undefined) {
    try {
      probability = parseProbability(item.probability);
    } catch (err) {
      errors.push({ path: `${at}.probability`, message: err instanceof UnitError ? err.message : String(err) });
    }
  }
  let times: number | null = null;
  if (item.times !== undefined && item.times !== null) {
    const n = count(item.times, `${at}.times`, errors);
    if (n !== undefined) {
      if (n === 0) errors.push({ path: `${at}.times`, message: "expected at least 1 (leave times out for no limit), got 0" });
      times = n;
    }
  }
  let after = 0;
  if (item.after !== undefined && item.after !== null) after = count(item.after, `${at}.after`, errors) ?? 0;
  if (errors.length > before || action === undefined) return undefined;
  return { match, probability, times, after, ...action };
}
