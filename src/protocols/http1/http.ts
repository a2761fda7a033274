// The http protocol module: HTTP/1.x requests framed by Http1Exchange (http1-exchange.ts), decided
// by the shared rule engine. Match fields: method (names), path, host (globs), header (name: glob).
// A `fail` is {status 400..599, headers, body}: the agent answers in the request's place, in order.
import { owningStream } from "../shared/exchange-stream.js";
import { RuleError, type Decision, type RequestDetail, type RequestInfo, type ProtocolModule, type ProtocolStream, type StreamContext } from "../../requests/protocol.js";
import { Http1Exchange, type Http1Decision, type Http1Outcome, type Http1Request } from "./exchange.js";
import { checkHeader, checkHttpStatus, type HttpFailure } from "./answer.js";
import { retryAfterSeconds } from "../../requests/rate-limit.js";
import type { AnswerFault } from "../../requests/answer-rule.js";

const FAIL_FIELDS = ["status", "headers", "body"];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function compileFail(fail: Record<string, unknown>): HttpFailure {
  // `fail: 503` arrives as {error: 503} (the rule model's shorthand)
  const f = Object.keys(fail).length === 1 && fail.error !== undefined ? { status: fail.error } : fail;
  for (const k of Object.keys(f)) {
    if (!FAIL_FIELDS.includes(k)) throw new RuleError(`fail.${k}`, `an http fail takes ${FAIL_FIELDS.join(", ")}, got field ${JSON.stringify(k)}`);
  }
  if (f.status === undefined) throw new RuleError("fail.status", "required: an HTTP status 400..599");
  const status = checkHttpStatus(f.status);
  if (typeof status === "string") throw new RuleError("fail.status", status);
  if (f.body !== undefined && typeof f.body !== "string") throw new RuleError("fail.body", `expected text, got ${JSON.stringify(f.body)}`);
  const headers: Record<string, string> = {};
  if (f.headers !== undefined) {
    if (!isRecord(f.headers)) throw new RuleError("fail.headers", `expected a mapping of name: value, got ${JSON.stringify(f.headers)}`);
    for (const [k, v] of Object.entries(f.headers)) {
      const problem = checkHeader(k, v);
      if (problem) throw new RuleError("fail.headers", problem);
      headers[k] = String(v);
    }
  }
  return { status, headers, body: (f.body as string | undefined) ?? null };
}

function toHttp1(d: Decision<HttpFailure>): Http1Decision {
  switch (d.action) {
    case "forward":
      return { kind: "forward" };
    case "fail":
      return { kind: "fail", failure: d.fail };
    case "delay":
      return { kind: "delay", ms: d.ms, hold: d.hold };
    case "lose":
      return { kind: "lose" };
    case "reset":
      return { kind: "reset" };
    case "answer":
      return { kind: "answer", fault: d.fault, outcome: answerOutcome(d.fault) };
    case "limit": {
      const seconds = retryAfterSeconds(d.retryAfterMs);
      return { kind: "fail", outcome: "limited", failure: { status: 429, headers: { "retry-after": String(seconds) }, body: `rate limited: retry after ${seconds}s\n` } };
    }
  }
}

function answerOutcome(f: AnswerFault): "truncated" | "malformed" | "throttled" {
  return f.kind === "malform" ? "malformed" : f.kind === "throttle" ? "throttled" : "truncated";
}

/** A request's match fields, read from it only when a rule asks (with no rule: never). */
class HttpRequestInfo implements RequestInfo {
  private fieldValues: Record<string, string> | null = null;

  constructor(private readonly req: Http1Request) {}

  get fields(): Record<string, string> {
    if (this.fieldValues === null) this.fieldValues = { method: this.req.method, path: this.req.path, host: this.req.host.toLowerCase() };
    return this.fieldValues;
  }

  get maps(): Record<string, Record<string, string>> {
    return { header: this.req.headers };
  }

  get label(): string {
    return `${this.req.method} ${this.req.path}`;
  }
}

/** A request's event waiting for what it still lacks: its identity (its body's end) or its fate. */
interface Report {
  at: number;
  rule: string | undefined;
  identity?: string;
  /** the body's end came (or never will): the identity is as known as it gets */
  identified: boolean;
  settled?: { outcome: Http1Outcome; ms: number | null; detail: RequestDetail };
}

/** One connection's HTTP/1.x exchange as the relay's ProtocolStream. */
function openHttp(ctx: StreamContext<HttpFailure>): ProtocolStream {
  const path = ctx.path;
  // each request a rule acted on and, while traced, every one: its event waits here until both
  // its fate and (traced) its identity are known
  const reports = new WeakMap<Http1Request, Report>();
  const label = (req: Http1Request): string => `${req.method} ${req.path}`;
  const emit = (req: Http1Request, r: Report): void => {
    const s = r.settled!;
    const detail: RequestDetail = r.identity !== undefined ? { identity: r.identity, ...s.detail } : s.detail;
    reports.delete(req);
    if (s.outcome !== "forwarded") ctx.injected(s.outcome, r.rule ?? "", label(req), r.at, s.ms ?? undefined, detail);
    else ctx.traced(label(req), r.at, s.ms, detail);
  };
  const ex = new Http1Exchange({
    decide: (req) => {
      const d = ctx.decide(new HttpRequestInfo(req));
      const traced = ctx.tracing();
      if (d.action !== "forward" || traced) reports.set(req, { at: ctx.now(), rule: d.action !== "forward" ? d.rule : undefined, identified: !traced });
      return toHttp1(d);
    },
    identifying: () => ctx.tracing(),
    identified: (req, identity) => {
      const r = reports.get(req);
      if (r === undefined) return;
      r.identity = identity;
      r.identified = true;
      if (r.settled !== undefined) emit(req, r);
    },
    toUpstream: (b) => path.toUpstream(b),
    toClient: (b) => path.toClient(b),
    answerClient: (b, n) => path.answerClient(b, n),
    endUpstream: () => path.endUpstream(),
    endClient: () => path.endClient(),
    resetConnection: () => path.reset(),
    closeConnection: () => path.close(),
    settled: (req, outcome, seconds, more) => {
      if (seconds !== null) ctx.answered(seconds);
      const r = reports.get(req);
      if (r === undefined) return;
      const detail: RequestDetail = {};
      if (more?.status !== undefined) detail.answer = more.status >= 500 || more.status === 429 ? "error" : "ok";
      if (more?.abandoned === true) detail.abandoned = true;
      const gone = more?.abandoned === true || outcome === "reset";
      r.settled = { outcome, ms: seconds === null && !gone ? null : ctx.now() - r.at, detail };
      // a reset or abandoned request's body will never end: its event goes now, unidentified if so
      if (r.identified || gone) emit(req, r);
    },
    passthrough: (reason) => ctx.opaque(reason),
    hasRules: () => ctx.hasRules(),
    refused: (reason) => ctx.opaque(reason),
    close: () => path.close(),
  });
  return owningStream(ex, path);
}

export const httpProtocol: ProtocolModule<HttpFailure> = {
  name: "http",
  matchFields: { method: "names", path: "glob", host: "glob", header: "globMap" },
  actions: ["fail", "delay", "lose", "reset", "truncate", "malform", "throttle", "rateLimit"],
  truncateBy: ["bytes", "events"],
  limitKeys: ["header"],
  compileFail,
  open: openHttp,
};
