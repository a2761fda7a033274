// A dns rule's answers, checked and compiled: `fail: RCODE`, `answer: empty`,
// `answer: {records: [{type, data, ttl}]}`, `truncate: true`. Errors name the sub-field.
import net from "node:net";
import { RuleError } from "../../requests/protocol.js";
import { FAIL_RCODES, RECORD_TYPES, type DnsRecord, type DnsReply, type RcodeName, type RecordType } from "./message.js";

const DEFAULT_TTL = 5;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `fail: SERVFAIL` (parsed by the rule layer as {error: "SERVFAIL"}) or `fail: {rcode: SERVFAIL}`. */
export function compileDnsFail(fail: Record<string, unknown>): DnsReply {
  const keys = Object.keys(fail);
  const key = keys.includes("rcode") ? "rcode" : "error";
  const extra = keys.find((k) => k !== key);
  if (extra !== undefined) throw new RuleError(`fail.${extra}`, `a dns fail is an rcode (fail: SERVFAIL); unknown field ${JSON.stringify(extra)}`);
  const v = fail[key];
  const name = typeof v === "string" ? v.toUpperCase() : v;
  if (typeof name !== "string" || !(FAIL_RCODES as readonly string[]).includes(name)) {
    throw new RuleError(key === "rcode" ? "fail.rcode" : "fail", `expected one of ${FAIL_RCODES.join(" | ")}, got ${JSON.stringify(v)}`);
  }
  return { kind: "rcode", rcode: name as RcodeName };
}

function compileRecord(raw: unknown, at: string): DnsRecord {
  if (!isRecord(raw)) throw new RuleError(at, `expected a record {type: A, data: 127.0.0.9, ttl: 5}, got ${JSON.stringify(raw)}`);
  for (const k of Object.keys(raw)) {
    if (!["type", "data", "ttl"].includes(k)) throw new RuleError(`${at}.${k}`, `unknown field ${JSON.stringify(k)} (known fields: type, data, ttl)`);
  }
  const type = typeof raw.type === "string" ? raw.type.toUpperCase() : raw.type;
  if (typeof type !== "string" || !(RECORD_TYPES as readonly string[]).includes(type)) {
    throw new RuleError(`${at}.type`, `expected one of ${RECORD_TYPES.join(" | ")}, got ${JSON.stringify(raw.type)}`);
  }
  if (typeof raw.data !== "string" || raw.data.trim() === "") throw new RuleError(`${at}.data`, `expected the record's data as text, got ${JSON.stringify(raw.data)}`);
  const data = raw.data.trim();
  if (type === "A" && net.isIPv4(data) === false) throw new RuleError(`${at}.data`, `expected an IPv4 address for an A record, got ${JSON.stringify(data)}`);
  if (type === "AAAA" && net.isIPv6(data) === false) throw new RuleError(`${at}.data`, `expected an IPv6 address for an AAAA record, got ${JSON.stringify(data)}`);
  if (type === "MX" && !/^\d+\s+\S+$/.test(data)) throw new RuleError(`${at}.data`, `expected "PREFERENCE EXCHANGE" for an MX record (10 mail.example.com), got ${JSON.stringify(data)}`);
  let ttl = DEFAULT_TTL;
  if (raw.ttl !== undefined) {
    const t = typeof raw.ttl === "string" && /^\d+s?$/.test(raw.ttl.trim()) ? Number(raw.ttl.trim().replace(/s$/, "")) : raw.ttl;
    if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t > 2147483647) throw new RuleError(`${at}.ttl`, `expected whole seconds (0 or more), got ${JSON.stringify(raw.ttl)}`);
    ttl = t;
  }
  return { type: type as RecordType, data, ttl };
}

/** `answer: empty`, `answer: {records: [...]}`, `truncate: true`. */
export function compileDnsAnswer(action: "answer" | "truncate", value: unknown): DnsReply {
  if (action === "truncate") {
    if (value !== true) throw new RuleError("truncate", `a dns truncate is truncate: true (TC set, the client retries over TCP), got ${JSON.stringify(value)}`);
    return { kind: "truncate" };
  }
  if (value === "empty") return { kind: "empty" };
  if (!isRecord(value)) throw new RuleError("answer", `expected answer: empty or answer: {records: [...]}, got ${JSON.stringify(value)}`);
  for (const k of Object.keys(value)) {
    if (k !== "records") throw new RuleError(`answer.${k}`, `unknown field ${JSON.stringify(k)} (an answer has records)`);
  }
  const list = value.records;
  if (!Array.isArray(list)) throw new RuleError("answer.records", `expected a list of records [{type: A, data: 127.0.0.9, ttl: 5}], got ${JSON.stringify(list)}`);
  if (list.length === 0) return { kind: "empty" };
  return { kind: "records", records: list.map((r, i) => compileRecord(r, `answer.records[${i}]`)) };
}
