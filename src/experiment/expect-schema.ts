// Validation of a scenario's `expect:` (verdicts on the client) into ClientExpectations, one
// FieldError per bad field with a dotted path (`expect.0.backoff.growth`).
import type { FieldError } from "../field-error.js";
import { describe, FieldChecker, isRecord, join } from "../profiles/fields.js";
import { parseDuration, showValue, UnitError } from "../units.js";
import { EXPECTATION_KINDS, type ClientExpectation } from "./client-types.js";

const ENTRY_FIELDS = ["proxy", ...EXPECTATION_KINDS] as const;
const PROXY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_EXPECT = 64;

class Checker extends FieldChecker {
  duration(v: unknown, path: string, what: string): number | undefined {
    if (v === undefined) {
      this.add(path, `required: ${what}`);
      return undefined;
    }
    try {
      const ms = parseDuration(v);
      if (ms <= 0) {
        this.add(path, `expected a duration above 0, got ${showValue(v)}`);
        return undefined;
      }
      return ms;
    } catch (err) {
      this.add(path, err instanceof UnitError ? err.message : String(err));
      return undefined;
    }
  }

  count(v: unknown, path: string, what: string, min: number): number | undefined {
    if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= 1_000_000) return v;
    this.add(path, v === undefined ? `required: ${what}` : `expected a whole number from ${min}, got ${describe(v)}`);
    return undefined;
  }

  block(v: unknown, path: string, example: string, fields: readonly string[]): Record<string, unknown> | undefined {
    if (!isRecord(v)) {
      this.add(path, `expected ${example}, got ${describe(v)}`);
      return undefined;
    }
    this.unknownKeys(v, fields, path);
    return v;
  }
}

function parseEntry(c: Checker, raw: unknown, path: string): ClientExpectation | undefined {
  const v = c.block(raw, path, "an expectation like {proxy: payments, retries: {max: 3}}", ENTRY_FIELDS);
  if (v === undefined) return undefined;
  const before = c.errors.length;
  let proxy: string | undefined;
  if (typeof v.proxy === "string" && PROXY_NAME.test(v.proxy)) proxy = v.proxy;
  else c.add(join(path, "proxy"), v.proxy === undefined ? "required: the proxy whose clients are judged" : `expected a proxy name (letters, digits, . _ -), got ${describe(v.proxy)}`);
  const e: ClientExpectation = { proxy: proxy ?? "" };
  if (v.retries !== undefined) {
    const at = join(path, "retries");
    const r = c.block(v.retries, at, "{max: 3}", ["max"]);
    const max = r && c.count(r.max, join(at, "max"), "the most retries of one failed request, e.g. 3", 0);
    if (max !== undefined) e.retries = { max };
  }
  if (v.backoff !== undefined) {
    const at = join(path, "backoff");
    const b = c.block(v.backoff, at, "{first: 100ms, growth: 1.5}", ["first", "growth"]);
    if (b) {
      const first = c.duration(b.first, join(at, "first"), "how long the 1st retry waits at least, e.g. 100ms");
      let growth: number | undefined = 1;
      if (b.growth !== undefined) {
        if (typeof b.growth === "number" && Number.isFinite(b.growth) && b.growth >= 1 && b.growth <= 100) growth = b.growth;
        else {
          c.add(join(at, "growth"), `expected a factor from 1 to 100 (each retry waits at least this times the one before), got ${describe(b.growth)}`);
          growth = undefined;
        }
      }
      if (first !== undefined && growth !== undefined) e.backoff = { first, growth };
    }
  }
  if (v.timeout !== undefined) {
    const at = join(path, "timeout");
    const t = c.block(v.timeout, at, "{max: 5s}", ["max"]);
    const max = t && c.duration(t.max, join(at, "max"), "how long a client may wait on a held request, e.g. 5s");
    if (max !== undefined) e.timeout = { max };
  }
  if (v.circuitBreaker !== undefined) {
    const at = join(path, "circuitBreaker");
    const b = c.block(v.circuitBreaker, at, "{opensAfter: 10, pause: 1s}", ["opensAfter", "pause"]);
    if (b) {
      const opensAfter = c.count(b.opensAfter, join(at, "opensAfter"), "the most failures in a row before the client stops calling, e.g. 10", 1);
      const pause = c.duration(b.pause, join(at, "pause"), "how long the client stops calling at least, e.g. 1s");
      if (opensAfter !== undefined && pause !== undefined) e.circuitBreaker = { opensAfter, pause };
    }
  }
  if (c.errors.length === before && !EXPECTATION_KINDS.some((k) => v[k] !== undefined)) c.add(path, `an expectation needs at least one of ${EXPECTATION_KINDS.join(", ")}`);
  return c.errors.length === before ? e : undefined;
}

/** Validates `expect:` (a list, or one entry); [] when absent. */
export function validateExpect(raw: unknown): { expect: ClientExpectation[]; errors: FieldError[] } {
  if (raw === undefined) return { expect: [], errors: [] };
  const c = new Checker();
  const items = isRecord(raw) ? [raw] : raw;
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_EXPECT) {
    c.add("expect", `expected a list of up to ${MAX_EXPECT} expectations like [{proxy: payments, retries: {max: 3}}], got ${describe(raw)}`);
    return { expect: [], errors: c.errors };
  }
  const out: ClientExpectation[] = [];
  items.forEach((item: unknown, i) => {
    const e = parseEntry(c, item, isRecord(raw) ? "expect" : join("expect", i));
    if (e) out.push(e);
  });
  return { expect: c.errors.length > 0 ? [] : out, errors: c.errors };
}
