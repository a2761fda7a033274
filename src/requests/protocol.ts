// The contract between the protocol-neutral request layer and a protocol module.
//
//   client socket -> Connection -> ProtocolStream (only on a protocol proxy) -> link -> upstream
//   upstream socket -> Connection -> ProtocolStream -> link -> client
//
// A protocol module owns the byte stream of both directions on its proxy: the Connection hands
// it every chunk (fromClient / fromUpstream) and it writes what should go on through the
// RelayPath. For each request it frames it asks the neutral engine (StreamContext.decide) what to
// do. Request/response protocols (postgres, mysql, redis, HTTP/1.1) need only a FrameCodec and
// reuse FramedStream (framed-stream.ts), which keeps answers in order; a terminating protocol
// (HTTP/2 with node's http2 on both sides) implements ProtocolStream itself and still calls
// decide() per request.
import type { ActionKind, ProtocolName } from "./rule.js";
import type { Hold } from "./holds.js";
import type { AnswerFault, TruncateUnit } from "./answer-rule.js";

/** What a request looks like to rules: the values of its protocol's match fields. */
export interface RequestInfo {
  /** single-valued match fields by name: query, user, database, command, key, method, path, host */
  readonly fields: Readonly<Record<string, string | undefined>>;
  /** multi-valued match fields by name (http header, grpc metadata): lower-case key -> value */
  readonly maps?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** a short text for events and logs, e.g. "SET session:1" or "COMMIT" */
  readonly label: string;
}

/** How a match field's value is compared (compiled once per apply by match.ts). */
export type MatchKind =
  /** a regular expression, case-insensitive, searched anywhere (anchor with ^) */
  | "regex"
  /** a glob (* and ?), case-sensitive, on the whole value */
  | "glob"
  /** a glob (* and ?), case-insensitive, on the whole value (DNS names) */
  | "iglob"
  /** a name or list of names, case-insensitive, exact */
  | "names"
  /** a map of key: glob, every one must fit (keys case-insensitive) */
  | "globMap";

/** A rule's decision for one request. `rule` names the rule for events (describeRule). */
export type Decision<F> =
  | { action: "forward" }
  /**
   * `trip`, set when the up link has a delay: the made answer's wait for its request's trip up
   * (a hold, let go early when the rule goes away). A multiplexing protocol (gRPC) waits on it
   * per call; the others give the answer to path.answerClient, which waits in order.
   */
  | { action: "fail"; fail: F; rule: string; trip?: Hold }
  /** `hold` starts the wait: a timer of `ms` that a change taking the rule away ends early */
  | { action: "delay"; ms: number; rule: string; hold: Hold }
  | { action: "lose"; rule: string }
  /** scope "stream": only the request's own stream (a multiplexing protocol: gRPC's RST_STREAM) */
  | { action: "reset"; scope: "connection" | "stream"; rule: string }
  /** forwarded; the answer is cut, malformed or slowed on its way back (answer-rule.ts) */
  | { action: "answer"; fault: AnswerFault; rule: string }
  /** over a rateLimit's budget: answered in the server's place (429, RESOURCE_EXHAUSTED) */
  | { action: "limit"; retryAfterMs: number; rule: string; trip?: Hold };

/** Thrown by a protocol module's checks; `path` is below the rule (e.g. "fail.code"). */
export class RuleError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** What the Connection offers the request layer. Writes return false when the far side is full. */
export interface RelayPath {
  /** bytes toward the server (through the up link) */
  toUpstream(buf: Buffer): boolean;
  /** bytes toward the client (through the down link) */
  toClient(buf: Buffer): boolean;
  /**
   * An answer the agent made in the server's place for a request of `requestBytes` that never
   * went up: it reaches the client after the request's trip up the link, then the down link, as
   * the server's would (bytes for the client after it wait behind it).
   */
  answerClient(buf: Buffer, requestBytes: number): boolean;
  /** the layer can take client bytes again after fromClient returned false */
  resumeClient(): void;
  /** a RST both ways now */
  reset(): void;
  /** both sides closed gracefully once written bytes have left (a FATAL answer) */
  close(): void;
  /** the server's side ends once written bytes have left (a stream that owns the ends) */
  endUpstream(): void;
  /** the client's side ends once written bytes have left (a stream that owns the ends) */
  endClient(): void;
  /** the client socket reads again (a stream that owns the flow) */
  readClient(): void;
  /** the upstream socket reads again (a stream that owns the flow) */
  readUpstream(): void;
}

/**
 * More about one request for the client verdicts, known only while someone watches every
 * request (tracing): what makes a retry the same request, the answer's class, the client gone.
 */
export interface RequestDetail {
  /** a short hash of what makes two attempts the same request (requests/identity.ts) */
  identity?: string;
  /** the server's (or the injected) answer: "error" for http 5xx/429, grpc non-OK, an SQL error, a redis error reply */
  answer?: "ok" | "error";
  /** the client went away (closed, reset the stream, cancelled) before the answer; `ms` is then when */
  abandoned?: boolean;
}

/** The outcome of one request, as counted by requests_total. */
export type RequestOutcome = "forwarded" | "failed" | "delayed" | "lost" | "reset" | "truncated" | "malformed" | "throttled" | "limited";

/** What a protocol stream reports to the proxy (events, counters, logs). */
export interface StreamContext<F> {
  /** true while the proxy has rules (asked per chunk: with none, a stream may only scan) */
  hasRules(): boolean;
  /**
   * The decision for one request (the rules current now: a new apply acts on live connections).
   * `uncounted`: a forward is not counted as a request (a connection's startup message).
   */
  decide(info: RequestInfo, uncounted?: boolean): Decision<F>;
  /** `count` requests went upstream while no rule acts on the connection (counted, never decided) */
  passed(count: number): void;
  /**
   * A decision was carried out (not called for "forward"; forwarded ones are counted by decide).
   * `arrivedAt`: when the request arrived (now() time; default now); `ms`: arrival to the answer's
   * start, when known.
   */
  injected(outcome: Exclude<RequestOutcome, "forwarded">, rule: string, request: string, arrivedAt?: number, ms?: number, detail?: RequestDetail): void;
  /**
   * True while someone watches every request (topic requests, requests: "all"). Only then does
   * a stream keep labels and arrival times of forwarded requests and report them with traced().
   */
  tracing(): boolean;
  /** A forwarded request's answer started `ms` after it arrived at `arrivedAt` (now() time); ms null: no answer. */
  traced(request: string, arrivedAt: number, ms: number | null, detail?: RequestDetail): void;
  /** the server answered a forwarded request after this many seconds (`count` of them at once: default 1) */
  answered(seconds: number, count?: number): void;
  /** the stream can no longer be followed; it passes untouched from now on (said once) */
  opaque(reason: string): void;
  readonly now: () => number;
  readonly path: RelayPath;
  /** HOST:PORT of the proxy's upstream (a terminating protocol's default authority) */
  readonly upstream: string;
}

/** A connection's request layer: gets every chunk of both directions, in order. */
export interface ProtocolStream {
  /** false: pause the client until path.resumeClient() (or the link drains) */
  fromClient(chunk: Buffer): boolean;
  /** false: pause the upstream until the client side drains */
  fromUpstream(chunk: Buffer): boolean;
  /** the connection is gone: cancel timers, drop buffers */
  close(): void;
  /**
   * A stream that owns the ends and the flow (a terminating protocol, HTTP/1.1 with its own
   * answer order): the Connection hands it each side's FIN and each side's drain instead of
   * forwarding the FIN and resuming the source itself; the stream then ends a side with
   * path.endUpstream()/endClient() and reads again with path.readClient()/readUpstream().
   */
  readonly owns?: {
    clientEnded(): void;
    upstreamEnded(): void;
    /** the way to the client has room again */
    clientDrained(): void;
    /** the way to the server has room again */
    upstreamDrained(): void;
  };
}

/** One protocol: its match fields, its actions, its `fail` shape, and its per-connection stream. */
export interface ProtocolModule<F = unknown> {
  readonly name: Exclude<ProtocolName, "tcp">;
  readonly matchFields: Readonly<Record<string, MatchKind>>;
  /** the actions it can carry out (every module does fail, delay, lose, reset; http and grpc the answer faults) */
  readonly actions: readonly ActionKind[];
  /** what a `truncate` may count in on this protocol (bytes, events of an event stream, grpc messages) */
  readonly truncateBy?: readonly TruncateUnit[];
  /** the `rateLimit: {per: "KIND:NAME"}` kinds it can key on ("header", "metadata"): read from RequestInfo.maps */
  readonly limitKeys?: readonly string[];
  /** true when `reset: stream` resets only the request's stream (multiplexing protocols) */
  readonly streamReset?: boolean;
  /** checks a rule's `fail` and compiles it; throws RuleError naming the sub-field */
  compileFail(fail: Record<string, unknown>): F;
  /**
   * With `answer` or `truncate: true` (TC) among its actions (dns): checks that action's value
   * and compiles it into the same shape as a fail (an answer made in the server's place).
   */
  compileAnswer?(action: "answer" | "truncate", value: unknown): F;
  /** the request layer of one new connection */
  open(ctx: StreamContext<F>): ProtocolStream;
}
