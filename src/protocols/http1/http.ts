// The http protocol module: HTTP/1.x requests framed by Http1Exchange (http1-exchange.ts), decided
// by the shared rule engine. Match fields: method (names), path, host (globs), header (name: glob).
// A `fail` is {status 400..599, headers, body}: the agent answers in the request's place, in order.
import { owningStream } from "../shared/exchange-stream.js";
import { RuleError, type Decision, type RequestInfo, type ProtocolModule, type ProtocolStream, type StreamContext } from "../../requests/protocol.js";
import { Http1Exchange, type Http1Decision, type Http1Request } from "./exchange.js";
import { checkHeader, checkHttpStatus, type HttpFailure } from "./answer.js";

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
  }
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

/** One connection's HTTP/1.x exchange as the relay's ProtocolStream. */
function openHttp(ctx: StreamContext<HttpFailure>): ProtocolStream {
  const path = ctx.path;
  // the rule that decided each request (for its event once its fate is settled)
  const ruleOf = new WeakMap<Http1Request, string>();
  const ex = new Http1Exchange({
    decide: (req) => {
      const d = ctx.decide(new HttpRequestInfo(req));
      if (d.action !== "forward") ruleOf.set(req, d.rule);
      return toHttp1(d);
    },
    toUpstream: (b) => path.toUpstream(b),
    toClient: (b) => path.toClient(b),
    endUpstream: () => path.endUpstream(),
    endClient: () => path.endClient(),
    resetConnection: () => path.reset(),
    settled: (req, outcome, seconds) => {
      if (seconds !== null) ctx.answered(seconds);
      if (outcome !== "forwarded") ctx.injected(outcome, ruleOf.get(req) ?? "", `${req.method} ${req.path}`);
    },
    passthrough: (reason) => ctx.opaque(reason),
  });
  return owningStream(ex, path);
}

export const httpProtocol: ProtocolModule<HttpFailure> = {
  name: "http",
  matchFields: { method: "names", path: "glob", host: "glob", header: "globMap" },
  actions: ["fail", "delay", "lose", "reset"],
  compileFail,
  open: openHttp,
};
