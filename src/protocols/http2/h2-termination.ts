// HTTP/2 in cleartext (h2c, gRPC) terminated on both sides: node's http2 (nghttp2) serves the
// client over its relayed socket and is itself a client of the upstream over the other. Each
// stream the client opens is decided on (forward, fail, delay, lose, reset) and, when forwarded,
// re-opened upstream with the same headers; DATA, trailers and resets are relayed stream by
// stream. Each side keeps its own HPACK tables and flow-control windows, so a stream answered,
// held or dropped here leaves both connections consistent. The older path, several times the
// CPU per call: the grpc proxy splices instead (h2-splice.ts, which re-encodes header blocks once
// a dropped one moved the HPACK table); NETIMPAIR_GRPC_TERMINATE=1 picks this one.
import http2, {
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { ByteDuplex, type ByteSink } from "./byte-duplex.js";
import { GRPC_STATUS, trailersOnly } from "./grpc-status.js";
import type { AnswerFault } from "../../requests/answer-rule.js";
import { relayShaped } from "./grpc-answer.js";
import { IdentityHash } from "../../requests/identity.js";
import type { Hold } from "../../requests/holds.js";

/** The client's connection preface (RFC 9113 3.4). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** One call (stream) as rules see it. */
export interface H2Call {
  /** :path, e.g. /package.Service/Method */
  path: string;
  /** :method (POST for gRPC) */
  method: string;
  authority: string;
  /** request headers without pseudo-headers (gRPC metadata), lower-case names */
  metadata: Record<string, string>;
  /** content-type application/grpc* */
  grpc: boolean;
}

export type H2Decision =
  | { kind: "forward" }
  | { kind: "fail"; status: number; message: string }
  /** hold: the wait (requests/holds.ts), let go early when the rule goes away */
  | { kind: "delay"; ms: number; hold: Hold }
  | { kind: "lose" }
  | { kind: "reset"; scope: "stream" | "connection"; code: number }
  /** forwarded; the response's messages are cut, replaced or slowed (grpc-answer.ts) */
  | { kind: "answer"; fault: AnswerFault; outcome: "truncated" | "malformed" | "throttled" }
  /** over a rateLimit's budget: RESOURCE_EXHAUSTED with grpc-retry-pushback-ms */
  | { kind: "limit"; retryAfterMs: number };

/** How a call ended, for counters and events. */
export type H2Outcome = "forwarded" | "failed" | "delayed" | "lost" | "reset" | "truncated" | "malformed" | "throttled" | "limited";

/** More about a settled call, known only while watched (H2Host.identifying). */
export interface H2Settle {
  /** its path and a hash of its request messages */
  identity?: string;
  /** grpc-status other than 0 (or an injected failure): "error" */
  answer?: "ok" | "error";
  /** the client cancelled (RST_STREAM) or left before the answer */
  abandoned?: boolean;
  /** when its answer started or its client left (now() time) */
  at?: number;
}

/** What the termination needs from the connection that owns it. */
export interface H2Host {
  decide(call: H2Call): H2Decision;
  /** true while someone watches every request: calls are then named and settled once whole (H2Settle) */
  identifying?(): boolean;
  /** bytes the agent sends the client; false = full */
  toClient: ByteSink;
  /** bytes the agent sends upstream; false = full */
  toUpstream: ByteSink;
  /** RST both sockets now */
  resetConnection(reason: string): void;
  /** a call's fate is settled; seconds = the server's answer time (forwarded, delayed, lost) */
  settled(call: H2Call, outcome: H2Outcome, seconds: number | null, detail?: H2Settle): void;
  /** something on either side broke HTTP/2 (for the log); the connection ends */
  broken(side: "client" | "upstream", reason: string): void;
  /**
   * Both sessions are over (closed, or torn down after a GOAWAY): the connection ends now, even
   * toward a peer that reads nothing more (what it never read is dropped, its socket closed).
   */
  finished(): void;
}

/** Bounds per connection, whatever the peers do. */
const SESSION_OPTIONS = {
  maxSessionMemory: 32,
  maxHeaderListPairs: 512,
  settings: { maxHeaderListSize: 64 * 1024 },
} as const;

const END_STREAM = constants.NGHTTP2_FLAG_END_STREAM;

export class H2Termination {
  private readonly clientSide: ByteDuplex;
  private readonly upstreamSide: ByteDuplex;
  private readonly server: ServerHttp2Session;
  private readonly upstream: ClientHttp2Session;
  /** cancels of the holds of delayed calls */
  private readonly timers = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly host: H2Host,
    authority: string,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.clientSide = new ByteDuplex(host.toClient);
    this.upstreamSide = new ByteDuplex(host.toUpstream);
    this.clientSide.on("error", () => {});
    this.upstreamSide.on("error", () => {});
    this.server = http2.performServerHandshake(this.clientSide, SESSION_OPTIONS);
    this.upstream = http2.connect(`http://${authority}`, {
      ...SESSION_OPTIONS,
      createConnection: () => this.upstreamSide,
    });
    this.server.on("error", (err: NodeJS.ErrnoException) => this.broken("client", err));
    this.upstream.on("error", (err: NodeJS.ErrnoException) => this.broken("upstream", err));
    this.server.on("stream", (stream, headers, flags) => this.onStream(stream, headers, flags));
    this.server.on("close", () => this.end());
    this.upstream.on("close", () => this.end());
    this.upstream.on("goaway", (code) => {
      // the server will take no new streams: tell the client the same
      if (!this.server.destroyed && !this.server.closed) this.server.goaway(code);
    });
    this.server.on("goaway", (code) => {
      if (!this.upstream.destroyed && !this.upstream.closed) this.upstream.goaway(code);
    });
  }

  /** Bytes from the client; false = pause the client until onClientDemand's callback. */
  fromClient(chunk: Buffer): boolean {
    return this.clientSide.feed(chunk);
  }

  fromUpstream(chunk: Buffer): boolean {
    return this.upstreamSide.feed(chunk);
  }

  onClientDemand(fn: () => void): void {
    this.clientSide.onDemand(fn);
  }

  onUpstreamDemand(fn: () => void): void {
    this.upstreamSide.onDemand(fn);
  }

  clientEnded(): void {
    this.clientSide.feedEnd();
  }

  upstreamEnded(): void {
    this.upstreamSide.feedEnd();
  }

  /** The client socket (or the link before it) has room again. */
  clientDrained(): void {
    this.clientSide.drained();
  }

  upstreamDrained(): void {
    this.upstreamSide.drained();
  }

  /** Drops everything at once (the connection is gone or reset). */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    for (const cancel of this.timers) cancel();
    this.timers.clear();
    this.server.destroy();
    this.upstream.destroy();
    this.clientSide.destroy();
    this.upstreamSide.destroy();
  }

  private broken(side: "client" | "upstream", err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    this.host.broken(side, err.code ?? err.message);
  }

  /** One session ended: the other follows (gracefully: in-flight streams finish first). */
  private end(): void {
    if (this.closed) return;
    if (!this.server.closed && !this.server.destroyed) this.server.close();
    if (!this.upstream.closed && !this.upstream.destroyed) this.upstream.close();
    if ((this.server.destroyed || this.server.closed) && (this.upstream.destroyed || this.upstream.closed)) {
      // both sessions are done: end both sockets once their last frames are out
      this.clientSide.end();
      this.upstreamSide.end();
      this.host.finished();
    }
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    stream.on("error", () => {});
    const call = callOf(headers);
    const decision = this.host.decide(call);
    const watched = this.host.identifying?.() === true ? new WatchedCall(call, stream, this.host, this.now, decision.kind === "answer" ? decision.outcome : OUTCOME_OF[decision.kind]) : null;
    const host: Pick<H2Host, "settled"> = watched ?? this.host;
    switch (decision.kind) {
      case "forward":
        this.forward(stream, headers, flags, call, "forwarded", false, null, watched);
        return;
      case "lose":
        this.forward(stream, headers, flags, call, "lost", true, null, watched);
        return;
      case "answer":
        this.forward(stream, headers, flags, call, decision.outcome, false, decision.fault, watched);
        return;
      case "limit": {
        const contentType = typeof headers["content-type"] === "string" ? headers["content-type"] : "application/grpc";
        const answer = trailersOnly(GRPC_STATUS.RESOURCE_EXHAUSTED, "rate limited", contentType);
        answer["grpc-retry-pushback-ms"] = String(Math.max(1, Math.ceil(decision.retryAfterMs)));
        stream.respond(answer, { endStream: true });
        stream.resume();
        host.settled(call, "limited", null);
        return;
      }
      case "delay": {
        stream.pause();
        const cancel = decision.hold(() => {
          this.timers.delete(cancel);
          if (stream.closed || this.closed) return;
          this.forward(stream, headers, flags, call, "delayed", false, null, watched);
        });
        this.timers.add(cancel);
        stream.once("close", () => {
          cancel();
          this.timers.delete(cancel);
        });
        return;
      }
      case "fail": {
        const contentType = typeof headers["content-type"] === "string" ? headers["content-type"] : "application/grpc";
        stream.respond(trailersOnly(decision.status, decision.message, contentType), { endStream: true });
        // the rest of the request, if any, is read and dropped; the client ends or cancels it
        // (an RST_STREAM NO_ERROR here would race the client's reading of the status)
        stream.resume();
        host.settled(call, "failed", null);
        return;
      }
      case "reset":
        host.settled(call, "reset", null);
        if (decision.scope === "stream") stream.close(decision.code);
        else this.host.resetConnection(`request ${call.path}`);
        return;
    }
  }

  private forward(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    flags: number,
    call: H2Call,
    outcome: H2Outcome,
    lose: boolean,
    fault: AnswerFault | null = null,
    watched: WatchedCall | null = null,
  ): void {
    const host: Pick<H2Host, "settled"> = watched ?? this.host;
    if (this.upstream.destroyed || this.upstream.closed) {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const ended = (flags & END_STREAM) !== 0 || stream.readableEnded;
    let up: ClientHttp2Stream;
    try {
      up = this.upstream.request(requestHeaders(headers), { endStream: ended });
    } catch {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const sentAt = this.now();
    up.on("error", () => {});
    if (ended) stream.resume();
    else stream.pipe(up);
    stream.resume();

    let trailers: OutgoingHttpHeaders = {};
    up.on("trailers", (t: IncomingHttpHeaders) => {
      trailers = responseHeaders(t);
      watched?.status(t["grpc-status"]);
    });
    up.on("headers", (h: IncomingHttpHeaders) => {
      // 1xx informational headers
      if (!lose && !stream.closed) stream.additionalHeaders(responseHeaders(h));
    });
    up.on("response", (h: IncomingHttpHeaders, responseFlags: number) => {
      host.settled(call, outcome, (this.now() - sentAt) / 1000);
      if ((responseFlags & END_STREAM) !== 0) watched?.status(h["grpc-status"]);
      if (lose) {
        // the server did the work; its answer never reaches the client, whose connection dies
        this.host.resetConnection(`answer to ${call.path} lost`);
        return;
      }
      if (stream.closed) return;
      const endStream = (responseFlags & END_STREAM) !== 0;
      try {
        stream.respond(responseHeaders(h), { endStream, waitForTrailers: !endStream });
      } catch {
        up.close(constants.NGHTTP2_CANCEL);
        return;
      }
      if (endStream) return;
      stream.on("wantTrailers", () => {
        if (!stream.closed) stream.sendTrailers(trailers);
      });
      if (fault !== null) relayShaped(up, stream, fault);
      else up.pipe(stream);
    });
    // a reset on either side resets the other
    stream.on("close", () => {
      if (!up.closed && !up.destroyed) up.close(stream.rstCode === constants.NGHTTP2_NO_ERROR ? constants.NGHTTP2_CANCEL : stream.rstCode);
    });
    up.on("close", () => {
      if (stream.closed || lose) return;
      if (up.rstCode !== undefined && up.rstCode !== constants.NGHTTP2_NO_ERROR) stream.close(up.rstCode);
      else if (!stream.headersSent) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    });
  }
}

const PSEUDO_REQUEST = new Set([":method", ":path", ":scheme", ":authority"]);

function callOf(headers: IncomingHttpHeaders): H2Call {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith(":") || v === undefined) continue;
    metadata[k] = Array.isArray(v) ? v.join(", ") : String(v);
  }
  const contentType = metadata["content-type"] ?? "";
  return {
    path: String(headers[":path"] ?? ""),
    method: String(headers[":method"] ?? ""),
    authority: String(headers[":authority"] ?? headers.host ?? ""),
    metadata,
    grpc: contentType.startsWith("application/grpc"),
  };
}

/** The client's request headers as the upstream stream's: pseudo-headers kept, the rest as is. */
function requestHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (k.startsWith(":") && !PSEUDO_REQUEST.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (k.startsWith(":") && k !== ":status") continue;
    out[k] = v;
  }
  return out;
}

/**
 * A call someone watches: its identity (path and a hash of the client's messages, never kept),
 * its answer's class (grpc-status) and whether its client left, settled once when all is known
 * (or when its stream closes).
 */
class WatchedCall {
  private readonly hash: IdentityHash;
  private requestEnded = false;
  private fate: { outcome: H2Outcome; seconds: number | null; at: number } | null = null;
  private answer: "ok" | "error" | undefined;
  private done = false;

  constructor(
    private readonly call: H2Call,
    stream: ServerHttp2Stream,
    private readonly host: H2Host,
    private readonly now: () => number,
    planned: H2Outcome,
  ) {
    this.hash = new IdentityHash(call.path);
    stream.on("data", (c: Buffer) => this.hash.update(c));
    stream.once("end", () => {
      this.requestEnded = true;
      this.maybeFinish();
    });
    stream.once("close", () => {
      // closed before its answer: the client cancelled or left (a delay's, a lost call's, a slow server's)
      if (this.fate === null && !this.done) this.fate = { outcome: planned, seconds: null, at: this.now() };
      this.finish(this.answer === undefined && stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR && !stream.headersSent);
    });
  }

  settled(_call: H2Call, outcome: H2Outcome, seconds: number | null): void {
    this.fate = { outcome, seconds, at: this.now() };
    if (outcome === "failed" || outcome === "limited") this.answer = "error";
    if (outcome === "reset" || outcome === "lost") this.finish(false);
    else this.maybeFinish();
  }

  /** the answer's grpc-status (trailers, or a trailers-only answer) */
  status(value: string | string[] | undefined): void {
    const code = Number(Array.isArray(value) ? value[0] : value);
    this.answer = code === 0 ? "ok" : "error";
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.fate !== null && this.answer !== undefined && this.requestEnded) this.finish(false);
  }

  private finish(abandoned: boolean): void {
    if (this.done || this.fate === null) return;
    this.done = true;
    const detail: H2Settle = { identity: this.hash.digest(), at: this.fate.at };
    if (this.answer !== undefined) detail.answer = this.answer;
    if (abandoned) detail.abandoned = true;
    this.host.settled(this.call, this.fate.outcome, this.fate.seconds, detail);
  }
}

const OUTCOME_OF: Record<Exclude<H2Decision["kind"], "answer">, H2Outcome> = { forward: "forwarded", fail: "failed", delay: "delayed", lose: "lost", reset: "reset", limit: "limited" };
