// The grpc protocol module: HTTP/2 in cleartext spliced (grpc-exchange.ts, h2-splice.ts: the
// agent reads every frame and header block, passes what it does not act on), each call decided
// by the shared rule engine. Match fields: method (the
// /package.Service/Method glob), metadata (key: glob). A `fail` is {status: name or 1..16,
// message}: a trailers-only answer. `reset: stream` resets only the call's stream (RST_STREAM).
import { constants } from "node:http2";
import { owningStream } from "../shared/exchange-stream.js";
import { RuleError, type Decision, type ProtocolModule, type ProtocolStream, type RequestDetail, type StreamContext } from "../../requests/protocol.js";
import { GrpcExchange } from "./grpc-exchange.js";
import type { H2Call, H2Decision } from "./h2-call.js";
import { defaultGrpcMessage, parseGrpcStatus } from "./grpc-status.js";

/** A compiled grpc `fail`: the status and its grpc-message. */
export interface GrpcFail {
  status: number;
  message: string;
}

const FAIL_FIELDS = ["status", "message"];

function compileFail(fail: Record<string, unknown>): GrpcFail {
  // `fail: UNAVAILABLE` arrives as {error: "UNAVAILABLE"} (the rule model's shorthand)
  const f = Object.keys(fail).length === 1 && fail.error !== undefined ? { status: fail.error } : fail;
  for (const k of Object.keys(f)) {
    if (!FAIL_FIELDS.includes(k)) throw new RuleError(`fail.${k}`, `a grpc fail takes ${FAIL_FIELDS.join(", ")}, got field ${JSON.stringify(k)}`);
  }
  if (f.status === undefined) throw new RuleError("fail.status", "required: a gRPC status name (UNAVAILABLE...) or number 1..16");
  const status = parseGrpcStatus(f.status);
  if (typeof status === "string") throw new RuleError("fail.status", status);
  if (f.message !== undefined && typeof f.message !== "string") throw new RuleError("fail.message", `expected text, got ${JSON.stringify(f.message)}`);
  return { status, message: (f.message as string | undefined) ?? defaultGrpcMessage(status) };
}

function toH2(d: Decision<GrpcFail>): H2Decision {
  switch (d.action) {
    case "forward":
      return { kind: "forward" };
    case "fail":
      return { kind: "fail", status: d.fail.status, message: d.fail.message, ...(d.trip !== undefined ? { trip: d.trip } : {}) };
    case "delay":
      return { kind: "delay", ms: d.ms, hold: d.hold };
    case "lose":
      return { kind: "lose" };
    case "reset":
      return { kind: "reset", scope: d.scope, code: constants.NGHTTP2_INTERNAL_ERROR };
    case "answer":
      return { kind: "answer", fault: d.fault, outcome: d.fault.kind === "malform" ? "malformed" : d.fault.kind === "throttle" ? "throttled" : "truncated" };
    case "limit":
      return { kind: "limit", retryAfterMs: d.retryAfterMs, ...(d.trip !== undefined ? { trip: d.trip } : {}) };
  }
}

/** One connection's gRPC exchange as the relay's ProtocolStream. */
function openGrpc(ctx: StreamContext<GrpcFail>): ProtocolStream {
  const path = ctx.path;
  const ruleOf = new WeakMap<H2Call, string>();
  // when each call arrived: kept for the ones a rule acted on and, while traced, for every one
  const arrivals = new WeakMap<H2Call, number>();
  const ex = new GrpcExchange(
    {
      decide: (call) => {
        const d = ctx.decide({ fields: { method: call.path }, maps: { metadata: call.metadata }, label: call.path });
        if (d.action !== "forward") ruleOf.set(call, d.rule);
        if (d.action !== "forward" || ctx.tracing()) arrivals.set(call, ctx.now());
        return toH2(d);
      },
      toUpstream: (b) => path.toUpstream(b),
      toClient: (b) => path.toClient(b),
      endUpstream: () => path.endUpstream(),
      endClient: () => path.endClient(),
      resetConnection: () => path.reset(),
      identifying: () => ctx.tracing(),
      settled: (call, outcome, seconds, more) => {
        if (seconds !== null) ctx.answered(seconds);
        const at = arrivals.get(call);
        if (at === undefined) return;
        // watched, a call settles once whole: `more.at` is when its answer started or its client left
        const ms = more?.at !== undefined ? (seconds === null && more.abandoned !== true ? null : more.at - at) : seconds === null ? null : ctx.now() - at;
        const detail: RequestDetail | undefined = more === undefined ? undefined : { ...(more.identity !== undefined ? { identity: more.identity } : {}), ...(more.answer !== undefined ? { answer: more.answer } : {}), ...(more.abandoned === true ? { abandoned: true } : {}) };
        if (outcome !== "forwarded") ctx.injected(outcome, ruleOf.get(call) ?? "", call.path, at, ms ?? undefined, detail);
        else ctx.traced(call.path, at, ms, detail);
      },
      passthrough: (reason) => ctx.opaque(reason),
      // the HTTP/2 session on that side ends the connection itself; nothing more to do here
      broken: () => {},
      close: () => path.close(),
    },
  );
  return owningStream(ex, path);
}

export const grpcProtocol: ProtocolModule<GrpcFail> = {
  name: "grpc",
  matchFields: { method: "glob", metadata: "globMap" },
  actions: ["fail", "delay", "lose", "reset", "truncate", "malform", "throttle", "rateLimit"],
  truncateBy: ["messages"],
  limitKeys: ["metadata"],
  streamReset: true,
  compileFail,
  open: openGrpc,
};
