// The request layer for request/response protocols (postgres, mysql, redis, HTTP/1.1): the
// protocol gives a FrameCodec (where requests and response units end, and how to fail one);
// this stream decides each request, holds delayed ones (and everything after them, so order
// holds), and keeps the client's answers in order through the AnswerQueue.
//
// With no rule the stream only scans: chunks go on as they came, unsliced and uncopied.
import { AnswerQueue, type Trace } from "./answer-queue.js";
import { identityOf } from "./identity.js";
import { OutputRun } from "./output-run.js";
import type { ProtocolStream, RequestDetail, RequestInfo, StreamContext } from "./protocol.js";

export interface ScannedRequest {
  /** offset in the chunk just past the request's last byte */
  end: number;
  /** null: bytes rules never see (handshake, auth, COPY data) */
  info: RequestInfo | null;
  /** response units the server sends for it (0: none expected) */
  responses: number;
}

export interface FailEffect {
  /** sent upstream in the request's place (e.g. a statement that makes the server abort the transaction) */
  substitute?: Buffer;
  /** response units the substitute gets (default 1) */
  substituteResponses?: number;
  /** the client's answer in the request's place; with a substitute, the substitute's response is swallowed */
  answer?: Buffer;
  /** after the answer the connection ends (a FATAL error) */
  close?: boolean;
}

/** A protocol's framing of one connection, both directions, fed in order. */
export interface FrameCodec<F> {
  /** Client bytes: the requests that end in this chunk; a partial one is remembered inside. */
  scanRequests(chunk: Buffer): ScannedRequest[];
  /**
   * Optional, used while no rule exists: frames the requests that end in this chunk as
   * scanRequests does but builds nothing for rules (no RequestInfo, no text), following its own
   * state as forwarded() would; returns how many response units they expect.
   */
  skimRequests?(chunk: Buffer): number;
  /** With skimRequests: true while the client bytes fed so far end inside a request. */
  readonly midRequest?: boolean;
  /** Server bytes: offsets just past each response unit that ends in this chunk. */
  scanResponses(chunk: Buffer): number[];
  /** What failing this request does on the wire. `request` holds its whole bytes. */
  failEffect(fail: F, info: RequestInfo, request: Buffer): FailEffect;
  /** Called when a request goes upstream as it came (forwarded, delayed or lost), in order. */
  forwarded?(info: RequestInfo): void;
  /**
   * Optional: the first bytes of a response unit say the request failed (an SQL error, a redis
   * error reply); asked only while someone watches every request.
   */
  answerFailed?(first: Buffer): boolean;
  /**
   * Optional: a request that sets up the connection (redis HELLO, AUTH, CLIENT SETINFO), sent
   * again on every new connection: it gets no identity, so it is never taken for a retry.
   */
  setup?(info: RequestInfo): boolean;
  /** Set once the stream cannot be followed (TLS, subscribe mode, bytes it cannot parse): why. */
  readonly opaque: string | null;
  /**
   * When scanRequests set `opaque` at a request boundary (a SUBSCRIBE after other commands in
   * one chunk): the offset where the bytes that cannot be followed begin. The requests scanned
   * before it are decided as usual (nothing written before the switch slips past a rule).
   */
  readonly opaqueFrom?: number;
}

interface Pending {
  buf: Buffer;
  info: RequestInfo | null;
  responses: number;
  /** its first bytes went on before rules were active: it cannot be decided */
  started: boolean;
  /** when its last bytes arrived (now() time) */
  at: number;
}

/** Bytes held for a delay (and behind it) before the client is paused. */
const HOLD_LIMIT = 1 << 20;
/** A request longer than this is forwarded undecided as it streams (memory stays bounded). */
const CARRY_LIMIT = 1 << 20;

export class FramedStream<F> implements ProtocolStream {
  private readonly queue: AnswerQueue;
  private readonly pending: Pending[] = [];
  private pendingBytes = 0;
  /** bytes of the request not yet complete (only while rules are active) */
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** the current partial request already went (partly) upstream */
  private started = false;
  /** cancels the hold of the request being delayed (null: none is) */
  private delayTimer: (() => void) | null = null;
  /** a lost request had no answer of its own: the next answer (the one it shares) is lost instead */
  private loseNextAnswer = false;
  private opaqueSaid = false;
  private closed = false;
  /** the client sent its FIN: it goes upstream once every request held here has gone */
  private clientFin = false;
  private upstreamEndSent = false;
  /** the server ended its side: requests still waiting were not abandoned by the client */
  private serverEnded = false;
  /** the watched request held by the running delay */
  private delayedTrace: Trace | null = null;
  /** a watched statement of a pipeline that went after its delay: its answer is the one it shares (its Sync's) */
  private sharedTrace: Trace | null = null;

  /**
   * The stream owns the client's FIN (and so the flow): a client that half-closes right after a
   * request that is being delayed (`printf ... | nc -q`) must not have its FIN overtake that
   * request on the way to the server, which would then close before it ever reads it.
   */
  readonly owns = {
    clientEnded: (): void => {
      this.clientFin = true;
      this.abandon();
      this.endUpstreamWhenDone();
    },
    upstreamEnded: (): void => {
      this.serverEnded = true;
      // the server's answers came before its FIN, in order: nothing here to wait for
      this.ctx.path.endClient();
    },
    clientDrained: (): void => this.ctx.path.readUpstream(),
    upstreamDrained: (): void => {
      if (this.pendingBytes < HOLD_LIMIT) this.ctx.path.readClient();
    },
  };

  constructor(
    private readonly codec: FrameCodec<F>,
    private readonly ctx: StreamContext<F>,
  ) {
    this.queue = new AnswerQueue({
      toClient: (b) => ctx.path.toClient(b),
      answerClient: (b, n) => ctx.path.answerClient(b, n),
      reset: () => ctx.path.reset(),
      close: () => ctx.path.close(),
      answered: (s, n) => ctx.answered(s, n),
      traced: (trace, ms, first) => this.report(trace, ms, { answer: this.codec.answerFailed?.(first) === true ? "error" : "ok" }),
      now: ctx.now,
    });
  }

  fromClient(chunk: Buffer): boolean {
    if (this.closed) return true;
    if (this.codec.opaque !== null) return this.passRaw(chunk);
    // someone watching every request needs each one framed and named: the decided path
    const idle = !this.ctx.hasRules() && !this.ctx.tracing() && this.pending.length === 0 && this.carryBytes === 0 && this.delayTimer === null;
    if (idle && this.codec.skimRequests !== undefined) {
      // no rule: the chunk goes on whole, framed but not read; one entry counts its answers
      const units = this.codec.skimRequests(chunk);
      if (this.codec.opaque !== null) return this.passRaw(chunk);
      this.started = this.codec.midRequest === true;
      if (units > 0) this.ctx.passed(units);
      const ok = units > 0 ? this.queue.pushEach(units, this.ctx.now()) : true;
      return this.ctx.path.toUpstream(chunk) && ok;
    }
    const scanned = this.codec.scanRequests(chunk);
    if (this.codec.opaque !== null) {
      const cut = this.codec.opaqueFrom ?? 0;
      if (idle || cut <= 0) return this.passRaw(chunk);
      // the requests ahead of the switch meet the rules; the rest follows them, in order, undecided
      this.take(chunk.subarray(0, cut), scanned);
      const rest = chunk.subarray(cut);
      this.pending.push({ buf: rest, info: null, responses: 0, started: true, at: this.ctx.now() });
      this.pendingBytes += rest.length;
      this.started = true;
      return this.pump() && this.pendingBytes < HOLD_LIMIT;
    }
    if (idle) {
      // no rule: the chunk goes on whole; entries only count answers (and time them)
      const now = this.ctx.now();
      let ok = true;
      let passed = 0;
      for (const r of scanned) {
        if (r.info !== null) {
          passed++;
          this.codec.forwarded?.(r.info);
        }
        if (r.responses > 0) ok = this.queue.push({ awaiting: r.responses, relay: true, answer: null, then: "none", sentAt: now }) && ok;
      }
      if (passed > 0) this.ctx.passed(passed);
      const last = scanned.length > 0 ? scanned[scanned.length - 1]!.end : 0;
      this.started = last < chunk.length ? true : false;
      return this.ctx.path.toUpstream(chunk) && ok;
    }
    this.take(chunk, scanned);
    const ok = this.pump();
    return ok && this.pendingBytes < HOLD_LIMIT;
  }

  /** Queues the requests scanned in `chunk` (whole ones as pending, a partial one carried). */
  private take(chunk: Buffer, scanned: ScannedRequest[]): void {
    let pos = 0;
    const at = this.ctx.now();
    for (const r of scanned) {
      let buf = chunk.subarray(pos, r.end);
      if (this.carryBytes > 0) {
        buf = Buffer.concat([...this.carry, buf]);
        this.carry = [];
        this.carryBytes = 0;
      }
      this.pending.push({ buf, info: r.info, responses: r.responses, started: this.started, at });
      this.pendingBytes += buf.length;
      this.started = false;
      pos = r.end;
    }
    if (pos < chunk.length) {
      const rest = chunk.subarray(pos);
      if (this.started || this.carryBytes + rest.length > CARRY_LIMIT) {
        // too long to hold (or already on its way): the rest of it streams, undecided
        const head = this.carryBytes > 0 ? Buffer.concat([...this.carry, rest]) : rest;
        this.carry = [];
        this.carryBytes = 0;
        this.pending.push({ buf: head, info: null, responses: 0, started: true, at });
        this.pendingBytes += head.length;
        this.started = true;
      } else {
        this.carry.push(rest);
        this.carryBytes += rest.length;
      }
    }
  }

  fromUpstream(chunk: Buffer): boolean {
    if (this.closed) return true;
    // once requests are off, server bytes still go through the queue while answers are owed
    // (an injected one behind a forwarded one): the client gets them in order, then raw bytes
    const was = this.codec.opaque;
    if (was !== null && this.queue.length === 0) return this.passRawDown(chunk);
    const ends = this.codec.scanResponses(chunk);
    if (this.codec.opaque !== was) {
      // the server's bytes cannot be framed: what the agent owes goes first, then raw
      const ok = this.queue.abandon();
      return this.passRawDown(chunk) && ok;
    }
    if (this.queue.plain) {
      const ok = this.ctx.path.toClient(chunk);
      this.queue.completed(ends.length);
      return ok;
    }
    let ok = true;
    let pos = 0;
    for (const end of ends) {
      ok = this.queue.server(chunk.subarray(pos, end), true) && ok;
      pos = end;
    }
    if (pos < chunk.length) ok = this.queue.server(chunk.subarray(pos), false) && ok;
    return ok;
  }

  close(): void {
    if (!this.closed && !this.serverEnded) this.abandon();
    this.closed = true;
    this.delayTimer?.();
    this.delayTimer = null;
    this.pending.length = 0;
    this.carry = [];
    this.queue.clear();
  }

  /** A request's label, made only for an event (forwarded requests are never named). */
  private labelOf(p: Pending): string {
    return p.info?.label ?? "";
  }

  /** A forwarded request someone watches: its answer's start is reported (now, when none is expected). */
  private trace(p: Pending, now: number): void {
    const label = this.labelOf(p);
    if (p.responses === 0) this.ctx.traced(label, p.at, null, { identity: identityOf(p.buf) });
    else this.queue.push({ awaiting: p.responses, relay: true, answer: null, then: "none", sentAt: now, trace: this.traceOf(p) });
  }

  /** A watched request's trace (its identity: a hash of its bytes, e.g. SQL and parameters, a command and its arguments). */
  private traceOf(p: Pending, fault?: Trace["fault"]): Trace {
    const identity = p.info !== null && this.codec.setup?.(p.info) === true ? undefined : identityOf(p.buf);
    return { label: this.labelOf(p), at: p.at, said: false, ...(identity !== undefined ? { identity } : {}), ...(fault !== undefined ? { fault } : {}) };
  }

  /** A watched request's event: a rule's delay or loss, or a forwarded one. */
  private report(t: Trace, ms: number, more: RequestDetail): void {
    const detail: RequestDetail = t.identity !== undefined ? { identity: t.identity, ...more } : more;
    if (t.fault !== undefined) this.ctx.injected(t.fault.outcome, t.fault.rule, t.label, t.at, ms, detail);
    else this.ctx.traced(t.label, t.at, ms, detail);
  }

  /** The client left: the watched requests it still waited for were abandoned (said once each). */
  private abandon(): void {
    const now = this.ctx.now();
    for (const held of [this.delayedTrace, this.sharedTrace]) {
      if (held === null || held.said) continue;
      held.said = true;
      this.report(held, now - held.at, { abandoned: true });
    }
    this.delayedTrace = null;
    this.sharedTrace = null;
    for (const t of this.queue.unanswered()) this.report(t, now - t.at, { abandoned: true });
  }

  /** Passes the client's FIN upstream once nothing is held back any more. */
  private endUpstreamWhenDone(): void {
    if (!this.clientFin || this.upstreamEndSent || this.closed) return;
    if (this.pending.length > 0 || this.delayTimer !== null) return;
    // a partial request held in carry goes as it is: the client will never finish it
    if (this.carryBytes > 0) {
      const rest = Buffer.concat(this.carry);
      this.carry = [];
      this.carryBytes = 0;
      this.ctx.path.toUpstream(rest);
    }
    this.upstreamEndSent = true;
    this.ctx.path.endUpstream();
  }

  /** Decides and sends pending requests in order until one is delayed. */
  private pump(): boolean {
    let ok = true;
    // forwarded requests side by side in one chunk go on as one slice of it (no copy)
    const run = new OutputRun();
    const flushRun = (): void => {
      run.flush((buf) => {
        ok = this.ctx.path.toUpstream(buf) && ok;
      });
    };
    const now = this.ctx.now();
    while (this.pending.length > 0 && this.delayTimer === null && !this.closed) {
      const p = this.pending.shift()!;
      this.pendingBytes -= p.buf.length;
      const decision = p.info !== null && !p.started ? this.ctx.decide(p.info) : ({ action: "forward" } as const);
      switch (decision.action) {
        case "forward":
          if (p.info !== null) this.codec.forwarded?.(p.info);
          if (this.loseNextAnswer && p.responses > 0) {
            // the answer a lost statement shares (a pipeline's ReadyForQuery) is the one lost
            this.loseNextAnswer = false;
            flushRun();
            this.queue.push({ awaiting: p.responses, relay: false, answer: null, then: "reset", sentAt: null });
            ok = this.ctx.path.toUpstream(p.buf) && ok;
            break;
          }
          if (this.sharedTrace !== null && p.responses > 0) {
            this.queue.push({ awaiting: p.responses, relay: true, answer: null, then: "none", sentAt: now, trace: this.sharedTrace });
            this.sharedTrace = null;
          } else if (p.info !== null && this.ctx.tracing()) this.trace(p, now);
          else if (p.responses === 1) this.queue.pushEach(1, now);
          else if (p.responses > 0) this.queue.push({ awaiting: p.responses, relay: true, answer: null, then: "none", sentAt: now });
          run.add(p.buf);
          break;
        case "fail": {
          flushRun();
          const effect = this.codec.failEffect(decision.fail, p.info!, p.buf);
          this.ctx.injected("failed", decision.rule, this.labelOf(p), p.at, undefined, this.ctx.tracing() ? { identity: identityOf(p.buf), answer: "error" } : undefined);
          const then = effect.close ? "close" : "none";
          if (effect.substitute !== undefined) {
            const units = effect.substituteResponses ?? 1;
            this.queue.push({ awaiting: units, relay: effect.answer === undefined, answer: effect.answer ?? null, then, sentAt: null });
            ok = this.ctx.path.toUpstream(effect.substitute) && ok;
          } else {
            ok = this.queue.push({ awaiting: 0, relay: false, answer: effect.answer ?? null, then, sentAt: null, madeFor: p.buf.length }) && ok;
          }
          break;
        }
        case "lose": {
          flushRun();
          // watched, a lost request is reported when its swallowed answer comes (or its client leaves)
          const watched = this.ctx.tracing() && p.responses > 0;
          if (!watched) this.ctx.injected("lost", decision.rule, this.labelOf(p), p.at);
          this.codec.forwarded?.(p.info!);
          if (p.responses > 0) this.queue.push({ awaiting: p.responses, relay: false, answer: null, then: "reset", sentAt: null, ...(watched ? { trace: this.traceOf(p, { outcome: "lost", rule: decision.rule }) } : {}) });
          ok = this.ctx.path.toUpstream(p.buf) && ok;
          // a request without an answer of its own (a statement of a pipeline) loses the answer it shares
          if (p.responses === 0) this.loseNextAnswer = true;
          break;
        }
        case "reset":
          flushRun();
          this.ctx.injected("reset", decision.rule, this.labelOf(p), p.at, undefined, this.ctx.tracing() ? { identity: identityOf(p.buf) } : undefined);
          this.closed = true;
          this.ctx.path.reset();
          return true;
        case "delay": {
          flushRun();
          // watched, a delayed request is reported when its answer starts (or its client leaves)
          const trace = this.ctx.tracing() ? this.traceOf(p, { outcome: "delayed", rule: decision.rule }) : null;
          if (trace === null) this.ctx.injected("delayed", decision.rule, this.labelOf(p), p.at);
          this.delayedTrace = trace;
          this.delayTimer = decision.hold(() => {
            this.delayTimer = null;
            this.delayedTrace = null;
            if (this.closed) return;
            this.codec.forwarded?.(p.info!);
            if (p.responses > 0) this.queue.push({ awaiting: p.responses, relay: true, answer: null, then: "none", sentAt: this.ctx.now(), ...(trace !== null && !trace.said ? { trace } : {}) });
            else if (trace !== null && !trace.said) this.sharedTrace = trace;
            this.ctx.path.toUpstream(p.buf);
            this.pump();
            if (this.pendingBytes < HOLD_LIMIT) this.ctx.path.resumeClient();
            this.endUpstreamWhenDone();
          });
          break;
        }
      }
    }
    flushRun();
    return ok;
  }

  private passRaw(chunk: Buffer): boolean {
    this.sayOpaque();
    // whatever was held goes first, in order, undecided
    let ok = true;
    if (this.pending.length > 0 || this.carryBytes > 0) {
      const held = Buffer.concat([...this.pending.map((p) => p.buf), ...this.carry]);
      this.pending.length = 0;
      this.pendingBytes = 0;
      this.carry = [];
      this.carryBytes = 0;
      this.delayTimer?.();
      this.delayTimer = null;
      ok = this.ctx.path.toUpstream(held);
    }
    return this.ctx.path.toUpstream(chunk) && ok;
  }

  private passRawDown(chunk: Buffer): boolean {
    this.sayOpaque();
    return this.ctx.path.toClient(chunk);
  }

  private sayOpaque(): void {
    if (this.opaqueSaid || this.codec.opaque === null) return;
    this.opaqueSaid = true;
    this.ctx.opaque(this.codec.opaque);
  }
}
