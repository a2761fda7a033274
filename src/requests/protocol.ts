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
  /** a name or list of names, case-insensitive, exact */
  | "names"
  /** a map of key: glob, every one must fit (keys case-insensitive) */
  | "globMap";

/** A rule's decision for one request. `rule` names the rule for events (describeRule). */
export type Decision<F> =
  | { action: "forward" }
  | { action: "fail"; fail: F; rule: string }
  /** `hold` starts the wait: a timer of `ms` that a change taking the rule away ends early */
  | { action: "delay"; ms: number; rule: string; hold: Hold }
  | { action: "lose"; rule: string }
  /** scope "stream": only the request's own stream (a multiplexing protocol: gRPC's RST_STREAM) */
  | { action: "reset"; scope: "connection" | "stream"; rule: string };

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

/** The outcome of one request, as counted by requests_total. */
export type RequestOutcome = "forwarded" | "failed" | "delayed" | "lost" | "reset";

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
  /** a decision was carried out (not called for "forward"; forwarded ones are counted by decide) */
  injected(outcome: Exclude<RequestOutcome, "forwarded">, rule: string, request: string): void;
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
  /** the actions it can carry out (every module here does all four) */
  readonly actions: readonly ActionKind[];
  /** true when `reset: stream` resets only the request's stream (multiplexing protocols) */
  readonly streamReset?: boolean;
  /** checks a rule's `fail` and compiles it; throws RuleError naming the sub-field */
  compileFail(fail: Record<string, unknown>): F;
  /** the request layer of one new connection */
  open(ctx: StreamContext<F>): ProtocolStream;
}
