// One HTTP/1.x connection seen by the agent: requests read from the client, each decided on
// (forward, fail, delay, lose, reset), answers read from the server and kept in request order.
// An injected answer takes its request's place in that order; a request whose answer is still
// coming holds back the injected answers behind it (pipelining, RFC 9112 9.3.2). Forwarded bytes
// are the client's and server's own, unchanged. An upgrade (101, or a 2xx to CONNECT) turns the
// connection into a tunnel; TLS, HTTP/2 and anything unparseable pass through untouched, with
// request faults off for the rest of the connection (said once).
import { isInterim, requestFraming, responseFraming } from "./body.js";
import {
  hasHeader,
  headerTokens,
  headerValue,
  parseRequestHead,
  parseResponseHead,
  requestHost,
  type RequestHead,
  type ResponseHead,
} from "./head.js";
import { MessageSplitter } from "./splitter.js";
import { encodeAnswer, type HttpFailure } from "./answer.js";
import type { Hold } from "../../requests/holds.js";
import { OutputRun } from "../../requests/output-run.js";
import { IdentityHash } from "../../requests/identity.js";
import type { AnswerFault } from "../../requests/answer-rule.js";
import { answerShaper, type AnswerShaper } from "./answer-shaper.js";
import { Pacer } from "./pacer.js";

/** One request as rules see it. */
export interface Http1Request {
  readonly method: string;
  /** the target's path, without the query */
  readonly path: string;
  /** the target as sent */
  readonly target: string;
  readonly host: string;
  /** lower-case names; repeated headers joined by ", " */
  readonly headers: Record<string, string>;
}

export type Http1Decision =
  | { kind: "forward" }
  | { kind: "fail"; failure: HttpFailure; outcome?: "limited" }
  /** forwarded; the answer is cut, malformed or slowed (answer-shaper.ts) */
  | { kind: "answer"; fault: AnswerFault; outcome: "truncated" | "malformed" | "throttled" }
  /** hold: the wait (requests/holds.ts), let go early when the rule goes away */
  | { kind: "delay"; ms: number; hold: Hold }
  | { kind: "lose" }
  | { kind: "reset" };

export type Http1Outcome = "forwarded" | "failed" | "delayed" | "lost" | "reset" | "truncated" | "malformed" | "throttled" | "limited";

/** More about a settled request: the server's status, or the client gone before the answer. */
export interface Http1Settle {
  /** the final answer's status (the server's, or the injected one's) */
  status?: number;
  /** the client closed its side (or the connection went) before the answer came */
  abandoned?: boolean;
}

export interface Http1Host {
  decide(req: Http1Request): Http1Decision;
  /**
   * True while someone watches every request: then each request's body is hashed as it passes
   * and identified() tells its identity at its end (nothing is hashed otherwise).
   */
  identifying?(): boolean;
  /** the request's last byte came: its identity (method, target, a hash of its body) */
  identified?(req: Http1Request, identity: string): void;
  /** bytes to the server; false = full (wait for upstreamDrained) */
  toUpstream(buf: Buffer): boolean;
  /** bytes to the client; false = full (wait for clientDrained) */
  toClient(buf: Buffer): boolean;
  /** an answer made in the server's place for a request of `requestBytes` that never went up (after its trip up the link) */
  answerClient(buf: Buffer, requestBytes: number): boolean;
  /** RST both sockets now */
  resetConnection(reason: string): void;
  /** both sides end once written bytes have left (a truncated answer) */
  closeConnection(): void;
  /** a request's fate is settled; seconds = the server's answer time when it answered */
  settled(req: Http1Request, outcome: Http1Outcome, seconds: number | null, detail?: Http1Settle): void;
  /** request faults are off for the rest of this connection, and why (said once) */
  passthrough(reason: string): void;
  /** true while rules are in force on the proxy */
  hasRules(): boolean;
  /** the agent refused a request stream it cannot frame: it answered 400 and closes, and why */
  refused(reason: string): void;
  /** both sides end gracefully once written bytes have left */
  close(): void;
  /** the client ended its side and every byte before its FIN has gone upstream */
  endUpstream(): void;
  /** the server ended its side and every answer before its FIN has gone to the client */
  endClient(): void;
}

interface Pending {
  req: Http1Request;
  method: string;
  outcome: Http1Outcome;
  /** injected answer bytes; null = the server answers */
  answer: Buffer | null;
  /** a rule's answer in the server's place: its request head's size (the trip it did not take up the link) */
  madeFor?: number;
  /** ms the request went upstream (performance.now), for the answer time */
  sentAt: number;
  upgrade: boolean;
  /** settled() was called for it */
  settled: boolean;
  /** its body's hash while identifying (null: not identifying) */
  hash: IdentityHash | null;
  /** an answer fault's shaper (truncate, malform, throttle); null: the answer as it is */
  shaper: AnswerShaper | null;
}

/** The answer to a request stream the agent cannot frame while it must (a real server's 400). */
const BAD_REQUEST = Buffer.from("HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 16\r\n\r\n400 Bad Request\n", "latin1");

/** Buffered client bytes beyond which the client is paused. */
const HIGH_WATER = 256 * 1024;

const TLS_HANDSHAKE = 0x16;

export class Http1Exchange {
  private readonly requests = new MessageSplitter<RequestHead>({
    parse: parseRequestHead,
    framing: requestFraming,
    skipLeadingEmptyLines: true,
  });
  private readonly responses = new MessageSplitter<ResponseHead>({
    parse: parseResponseHead,
    framing: (head) => responseFraming(head, this.queue[0]?.method ?? "GET"),
    skipLeadingEmptyLines: false,
  });
  /** requests in order, awaiting their answers */
  private readonly queue: Pending[] = [];
  private readonly up = new OutputRun();
  private readonly down = new OutputRun();
  /** what happens to the body of the request being read */
  private upBody: "forward" | "drop" = "forward";
  /** the request being read (its head came) */
  private upCurrent: Pending | null = null;
  /** the answer being read */
  private downCurrent: { pending: Pending | null; final: boolean } | null = null;
  private hold: "none" | "delay" | "upgrade" = "none";
  private upBlocked = false;
  private downBlocked = false;
  private first = true;
  private passing = false;
  /** the agent answered a request itself: what follows it can no longer pass unread */
  private answeredSelf = false;
  /** a stream the agent could not frame was refused: client bytes are dropped, the 400 closes */
  private refusing = false;
  private dead = false;
  /** cancels the hold of the request being delayed */
  private cancelHold: (() => void) | null = null;
  private clientPaused = false;
  private upstreamPaused = false;
  private clientEnd: "open" | "ended" | "sent" = "open";
  private upstreamEnd: "open" | "ended" | "sent" = "open";
  private onClientDemand: (() => void) | null = null;
  private onUpstreamDemand: (() => void) | null = null;
  /** a throttled body's bytes on their way (null until a throttle rule first acts) */
  private pacer: Pacer | null = null;

  constructor(private readonly host: Http1Host) {}

  /** Bytes from the client; false = pause the client until the demand callback. */
  fromClient(chunk: Buffer): boolean {
    if (this.dead || this.refusing) return true;
    if (this.first) {
      this.first = false;
      if (chunk[0] === TLS_HANDSHAKE) this.passThrough("TLS (encrypted: request faults off for this connection)");
      else if (chunk.subarray(0, 4).toString("latin1") === "PRI ") this.passThrough("HTTP/2 with prior knowledge (use protocol grpc for h2c)");
    }
    this.requests.push(chunk);
    this.pumpUp();
    if (this.requests.buffered > HIGH_WATER) {
      this.clientPaused = true;
      return false;
    }
    return true;
  }

  /** Bytes from the server; false = pause the server until the demand callback. */
  fromUpstream(chunk: Buffer): boolean {
    if (this.dead) return true;
    this.responses.push(chunk);
    this.pumpDown();
    if (this.responses.buffered > HIGH_WATER || ((this.downBlocked || this.pacing) && this.responses.buffered > 0)) {
      this.upstreamPaused = true;
      return false;
    }
    return true;
  }

  /** `client` is called when the client may send again after fromClient said false. */
  onDemand(client: () => void, upstream: () => void): void {
    this.onClientDemand = client;
    this.onUpstreamDemand = upstream;
  }

  /** The client sent its FIN: it goes upstream after the bytes before it. */
  clientEnded(): void {
    if (this.clientEnd === "open") this.clientEnd = "ended";
    // an HTTP client that half-closes is done waiting: what it still waits for, it gave up on
    this.abandonWaiting();
    this.pumpUp();
  }

  /** The client went away: each request not yet answered is settled as abandoned (said once). */
  private abandonWaiting(): void {
    for (const p of this.queue) {
      if (p.settled || p.answer !== null) continue;
      p.settled = true;
      this.host.settled(p.req, p.outcome, null, { abandoned: true });
    }
  }

  upstreamEnded(): void {
    if (this.upstreamEnd === "open") this.upstreamEnd = "ended";
    this.pumpDown();
  }

  upstreamDrained(): void {
    this.upBlocked = false;
    this.pumpUp();
  }

  clientDrained(): void {
    this.downBlocked = false;
    this.pumpDown();
  }

  /** Bytes still held here (not yet sent either way). */
  get buffered(): number {
    return this.requests.buffered + this.responses.buffered;
  }

  /** The connection is gone: drop timers and state (requests still waiting were abandoned, unless the server went first). */
  destroy(): void {
    if (!this.dead && this.upstreamEnd === "open") this.abandonWaiting();
    this.dead = true;
    this.cancelHold?.();
    this.cancelHold = null;
    this.pacer?.stop();
  }

  private get pacing(): boolean {
    return this.pacer !== null && this.pacer.busy;
  }

  private passThrough(reason: string): void {
    if (this.passing) return;
    this.passing = true;
    this.host.passthrough(reason);
    this.requests.switchToRaw();
    this.responses.switchToRaw();
  }

  /**
   * The request stream cannot be framed from here on. Once the agent has answered a request
   * itself, or while rules are in force, the bytes after it must not reach the server unread
   * (they could carry a request no rule saw: smuggling): the client gets 400 after the answers
   * it is owed and the connection closes, as a real server does. Otherwise they pass untouched.
   */
  private unframeable(reason: string): void {
    if (!this.answeredSelf && !this.host.hasRules()) {
      this.passThrough(`unparseable request (${reason})`);
      return;
    }
    this.refusing = true;
    this.requests.discard();
    this.upBody = "drop";
    this.upCurrent = null;
    this.queue.push({ req: REFUSED, method: "", outcome: "failed", answer: BAD_REQUEST, sentAt: performance.now(), upgrade: false, settled: true, hash: null, shaper: null });
    if (this.clientEnd === "open") this.clientEnd = "ended";
    this.host.refused(`unframeable request (${reason}): answered 400 and closed`);
  }

  // ---- client -> server ---------------------------------------------------------------------

  private pumpUp(): void {
    while (!this.dead && this.hold === "none" && !this.upBlocked) {
      const p = this.requests.next();
      if (p === null) break;
      if (p.kind === "raw") this.up.add(p.bytes);
      else if (p.kind === "invalid") this.unframeable(p.reason);
      else if (p.kind === "head") this.onRequestHead(p.head, p.bytes);
      else if (p.kind === "body") {
        this.upCurrent?.hash?.update(p.bytes);
        if (this.upBody === "forward") this.up.add(p.bytes);
      } else this.onRequestEnd();
      if (this.up.size >= 64 * 1024) this.flushUp();
    }
    this.flushUp();
    this.flushInjected();
    if (this.dead) return;
    // a client that ended cannot finish a head it started (a stray CRLF, a cut request line):
    // those bytes would wait here for ever, and the FIN with them
    if (this.clientEnd === "ended" && this.hold === "none" && this.requests.atMessageStart) this.requests.discard();
    if (this.clientEnd === "ended" && this.requests.buffered === 0 && this.hold === "none") {
      this.clientEnd = "sent";
      this.host.endUpstream();
    }
    if (this.clientPaused && this.requests.buffered <= HIGH_WATER / 2) {
      this.clientPaused = false;
      this.onClientDemand?.();
    }
  }

  private flushUp(): void {
    this.up.flush((b) => {
      if (!this.host.toUpstream(b)) this.upBlocked = true;
    });
  }

  private onRequestHead(head: RequestHead, bytes: Buffer): void {
    const req = requestOf(head);
    const decision = this.host.decide(req);
    if (this.dead) return;
    const upgrade = head.method === "CONNECT" || (hasHeader(head.headers, "upgrade") && headerTokens(head.headers, "connection").includes("upgrade"));
    const hash = this.host.identifying?.() === true ? new IdentityHash(head.method, head.target) : null;
    const pending: Pending = { req, method: head.method, outcome: "forwarded", answer: null, sentAt: performance.now(), upgrade, settled: false, hash, shaper: null };
    this.upCurrent = pending;
    this.upBody = "forward";
    switch (decision.kind) {
      case "answer":
        pending.outcome = decision.outcome;
        pending.shaper = answerShaper(decision.fault);
        this.queue.push(pending);
        this.up.add(bytes);
        return;
      case "forward":
      case "lose":
        pending.outcome = decision.kind === "lose" ? "lost" : "forwarded";
        this.queue.push(pending);
        this.up.add(bytes);
        return;
      case "fail": {
        const framing = requestFraming(head);
        const hasBody = typeof framing !== "string" && !(framing.kind === "length" && framing.length === 0);
        const expectsContinue = hasBody && (headerValue(head.headers, "expect") ?? "").toLowerCase() === "100-continue";
        pending.outcome = decision.outcome ?? "failed";
        pending.answer = encodeAnswer(decision.failure, { head: head.method === "HEAD", expectsContinue, closes: closes(head) });
        pending.madeFor = bytes.length;
        this.answeredSelf = true;
        this.upBody = "drop";
        this.queue.push(pending);
        pending.settled = true;
        this.host.settled(req, pending.outcome, null, { status: decision.failure.status });
        return;
      }
      case "delay": {
        pending.outcome = "delayed";
        this.queue.push(pending);
        this.flushUp(); // what came before goes now
        this.hold = "delay";
        this.cancelHold = decision.hold(() => {
          this.cancelHold = null;
          if (this.dead) return;
          pending.sentAt = performance.now();
          this.up.add(bytes);
          this.hold = "none";
          this.pumpUp();
        });
        return;
      }
      case "reset":
        pending.settled = true;
        this.host.settled(req, "reset", null);
        this.dead = true;
        this.host.resetConnection(`request ${head.method} ${req.path}`);
        return;
    }
  }

  private onRequestEnd(): void {
    const p = this.upCurrent;
    this.upCurrent = null;
    this.upBody = "forward";
    if (p === null) return;
    if (p.hash !== null) {
      this.host.identified?.(p.req, p.hash.digest());
      p.hash = null;
    }
    // an upgrade's answer decides whether what follows is HTTP: wait for it
    if (p.upgrade && p.answer === null) this.hold = "upgrade";
  }

  // ---- server -> client ---------------------------------------------------------------------

  /** Sends the injected answers now at the head of the queue. */
  private flushInjected(): void {
    if (this.downCurrent !== null) return;
    let any = false;
    // (an answer may go before its request's body is read: a client waiting on Expect:
    // 100-continue sends no body until it hears)
    while (this.queue.length > 0 && this.queue[0]!.answer !== null) {
      const p = this.queue.shift()!;
      if (p.madeFor !== undefined) {
        // it waits out its request's trip up the link; what was gathered before it goes first
        this.flushDown();
        if (!this.host.answerClient(p.answer!, p.madeFor)) this.downBlocked = true;
        continue;
      }
      this.down.add(p.answer!);
      any = true;
    }
    if (any) this.flushDown();
    if (this.refusing && this.queue.length === 0 && !this.dead && !this.pacing) {
      // the 400 went after every answer owed: the connection ends
      this.dead = true;
      this.host.close();
    }
  }

  private flushDown(): void {
    this.down.flush((b) => {
      if (!this.host.toClient(b)) this.downBlocked = true;
    });
  }

  private pumpDown(): void {
    if (this.pacing) return; // the pacer calls again once the throttled bytes are out
    while (!this.dead && !this.downBlocked && !this.pacing) {
      if (this.downCurrent === null) this.flushInjected();
      const p = this.responses.next();
      if (p === null) break;
      if (p.kind === "raw") this.down.add(p.bytes);
      else if (p.kind === "invalid") this.passThrough(`unparseable response (${p.reason})`);
      else if (p.kind === "head") this.onResponseHead(p.head, p.bytes);
      else if (p.kind === "body") {
        const shaper = this.downCurrent?.final === true ? (this.downCurrent.pending?.shaper ?? null) : null;
        if (shaper !== null) this.shapeBody(shaper, p.bytes);
        else if (this.downCurrent?.pending?.outcome !== "lost") this.down.add(p.bytes);
      } else this.onResponseEnd();
      if (this.down.size >= 64 * 1024) this.flushDown();
    }
    this.flushDown();
    if (this.dead) return;
    if (this.upstreamEnd === "ended" && this.responses.buffered === 0 && !this.pacing) {
      // no more answers will come: the injected ones at the head go, then the FIN
      if (this.downCurrent === null) this.flushInjected();
      this.upstreamEnd = "sent";
      this.host.endClient();
    }
    if (this.upstreamPaused && !this.downBlocked && this.responses.buffered <= HIGH_WATER / 2) {
      this.upstreamPaused = false;
      this.onUpstreamDemand?.();
    }
  }

  private onResponseHead(head: ResponseHead, bytes: Buffer): void {
    const pending = this.queue[0] ?? null;
    if (pending === null || pending.answer !== null) {
      // an answer nobody asked for (a 408 before a close, say): pass it on, then stop parsing
      this.down.add(bytes);
      this.downCurrent = { pending: null, final: true };
      this.passThrough(`answer without a request (${head.status})`);
      return;
    }
    const final = !isInterim(head.status);
    this.downCurrent = { pending, final };
    let shaped: Buffer | null = null;
    if (final && pending.shaper !== null) {
      shaped = pending.shaper.head(head, bytes, pending.method);
      // an answer the fault does not apply to (not an event stream, a 304) went as it was
      if (pending.shaper.acts === false) pending.outcome = "forwarded";
    }
    if (final) {
      if (!pending.settled) this.host.settled(pending.req, pending.outcome, (performance.now() - pending.sentAt) / 1000, { status: head.status });
      pending.settled = true;
      if (pending.outcome === "lost") {
        this.dead = true;
        this.flushDown(); // answers before it were the client's
        this.host.resetConnection(`answer to ${pending.method} ${pending.req.path} lost`);
        return;
      }
    }
    if (shaped !== null) this.down.add(shaped);
    else if (pending.outcome !== "lost") this.down.add(bytes);
    const tunnel = head.status === 101 || (pending.method === "CONNECT" && head.status >= 200 && head.status < 300);
    if (tunnel) {
      this.requests.switchToRaw();
      this.queue.length = 0;
      this.downCurrent = null;
    }
    if (final && this.hold === "upgrade") {
      this.hold = "none";
      queueMicrotask(() => this.pumpUp());
    }
  }

  /** One piece of a shaped answer's body: on as the shaper says, paced, or the connection cut after it. */
  private shapeBody(shaper: AnswerShaper, bytes: Buffer): void {
    const step = shaper.body(bytes);
    if (step.send !== null && step.send.length > 0) {
      if (shaper.pace > 0) {
        this.flushDown();
        this.pacer ??= new Pacer(
          (b) => {
            if (!this.dead && !this.host.toClient(b)) this.downBlocked = true;
          },
          () => this.pumpDown(),
        );
        this.pacer.add(step.send, shaper.pace, shaper);
      } else this.down.add(step.send);
    }
    if (!step.cut) return;
    // the answer stops here, as when a proxy or balancer drops the connection mid-answer
    this.flushDown();
    this.dead = true;
    this.pacer?.stop();
    if (shaper.then === "reset") this.host.resetConnection("answer truncated");
    else this.host.closeConnection();
  }

  private onResponseEnd(): void {
    const c = this.downCurrent;
    this.downCurrent = null;
    if (c?.final && c.pending !== null && this.queue[0] === c.pending) this.queue.shift();
  }
}

/** The place of a refused stream in the answer order (no request of its own). */
const REFUSED: Http1Request = { method: "", path: "", target: "", host: "", headers: {} };

/** The client will not send another request on this connection. */
function closes(head: RequestHead): boolean {
  const conn = headerTokens(head.headers, "connection");
  if (conn.includes("close")) return true;
  return head.minor === 0 && !conn.includes("keep-alive");
}

/** A request as rules see it, built from its head on first use (with no rule, never). */
class LazyRequest implements Http1Request {
  private headerMap: Record<string, string> | null = null;
  private hostName: string | null = null;

  constructor(private readonly head: RequestHead) {}

  get method(): string {
    return this.head.method;
  }

  get path(): string {
    return this.head.path;
  }

  get target(): string {
    return this.head.target;
  }

  get host(): string {
    if (this.hostName === null) this.hostName = requestHost(this.head);
    return this.hostName;
  }

  get headers(): Record<string, string> {
    if (this.headerMap === null) {
      const headers: Record<string, string> = {};
      for (const h of this.head.headers) headers[h.name] = h.name in headers ? `${headers[h.name]}, ${h.value}` : h.value;
      this.headerMap = headers;
    }
    return this.headerMap;
  }
}

function requestOf(head: RequestHead): Http1Request {
  return new LazyRequest(head);
}
