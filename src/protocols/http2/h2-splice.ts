// HTTP/2 in cleartext (h2c, gRPC) spliced, not terminated: the agent frames both directions
// itself (h2-frames.ts) and passes what it does not act on as it came, a read's frames in one
// write. Every header block is decoded (hpack.ts) with a decoder per direction that mirrors
// the sender's encoder, so each call is decided on (forward, fail, delay, lose, reset, an answer
// fault, a rate limit) by its :path and metadata. What the agent writes itself (a trailers-only
// status, a re-sent header block) is literal fields without indexing: no peer's dynamic table
// moves. A block the far peer never gets in order (a call answered here, one held by a delay)
// may have changed the sender's table: from then on that direction's blocks are re-encoded
// (literal) instead of passed, so the far peer never refers to entries it lacks. DATA the agent
// drops is given back to the sender's flow-control windows (WINDOW_UPDATE). A call held by a
// delay goes upstream under the next stream id there (ids are mapped per call both ways).
import {
  CONTINUATION,
  DATA,
  DEFAULT_MAX_FRAME,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FRAME_HEADER,
  FrameError,
  FrameReader,
  GOAWAY,
  H2_PREFACE,
  HEADERS,
  PING,
  PRIORITY,
  PROTOCOL_ERROR,
  COMPRESSION_ERROR,
  ENHANCE_YOUR_CALM,
  INTERNAL_ERROR,
  CANCEL,
  NO_ERROR,
  PUSH_PROMISE,
  RST_STREAM,
  SETTINGS,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_MAX_FRAME_SIZE,
  WINDOW_UPDATE,
  dataFrames,
  frameHeader,
  goaway,
  headerFrames,
  payloadOf,
  rstStream,
  windowUpdate,
  type Frame,
} from "./h2-frames.js";
import { encodeLiteral, HpackDecoder, HpackError, type HeaderField } from "./hpack.js";
import { GRPC_STATUS, trailersOnly } from "./grpc-status.js";
import { SpliceCall, WatchedSpliceCall } from "./splice-call.js";
import { shaperFor, type ShaperOut } from "./splice-answer.js";
import type { H2Call, H2Decision, H2Outcome, H2Settle } from "./h2-call.js";
import type { Hold } from "../../requests/holds.js";

/** What the splice needs from the connection that owns it. */
export interface SpliceHost {
  decide(call: H2Call): H2Decision;
  identifying(): boolean;
  /** bytes for the client; false = its buffer is full */
  toClient(buf: Buffer): boolean;
  toUpstream(buf: Buffer): boolean;
  endClient(): void;
  endUpstream(): void;
  resetConnection(reason: string): void;
  settled(call: H2Call, outcome: H2Outcome, seconds: number | null, detail?: H2Settle): void;
  broken(side: "client" | "upstream", reason: string): void;
  /** both sides end once written bytes have left (or after a grace period, dropping them) */
  close(): void;
}

/** A header block gathered (HEADERS or PUSH_PROMISE, then CONTINUATIONs). */
interface Block {
  stream: number;
  frames: Frame[];
  fragments: Buffer[];
  bytes: number;
  endStream: boolean;
  push: boolean;
}

/** Bounds per connection, whatever the peers do. */
const MAX_BLOCK_BYTES = 256 * 1024;
const MAX_LIVE_CALLS = 4096;
/** what the agent may have for the client before the server's preface */
const MAX_EARLY_BYTES = 256 * 1024;
/** stream id mappings kept after their call ends, for frames still on their way */
const CLOSED_MAPPINGS = 1024;

/** One peer: what it sends, read; what goes to it, batched. */
class Side {
  readonly reader: FrameReader;
  /** mirrors this peer's HPACK encoder */
  readonly decoder = new HpackDecoder();
  /** the other peer's decoder missed a block of this peer's: blocks are re-encoded from now on */
  diverged = false;
  /** the largest frame this peer accepts (its SETTINGS_MAX_FRAME_SIZE) */
  maxFrame = DEFAULT_MAX_FRAME;
  /** a header block coming in pieces */
  block: Block | null = null;
  /** bytes for this peer, batched per read */
  out: Buffer[] = [];
  run: { buf: Buffer; start: number; end: number } | null = null;
  /** this peer's reading waits for a drain of: */
  waitsOnClient = false;
  waitsOnUpstream = false;
  paused = false;

  constructor(otherMaxFrame: () => number) {
    this.reader = new FrameReader(otherMaxFrame);
  }

  /** A frame from the other side, as it came (consecutive frames of a read go out as one view). */
  pass(f: Frame): void {
    const r = this.run;
    if (r !== null && r.buf === f.buf && r.end === f.start) r.end = f.end;
    else {
      this.closeRun();
      this.run = { buf: f.buf, start: f.start, end: f.end };
    }
  }

  /** The frame with another stream id. */
  passAs(f: Frame, stream: number): void {
    if (stream === f.stream) return this.pass(f);
    this.write(frameHeader(f.length, f.type, f.flags, stream), f.buf.subarray(f.start + FRAME_HEADER, f.end));
  }

  write(...bufs: Buffer[]): void {
    this.closeRun();
    for (const b of bufs) this.out.push(b);
  }

  private closeRun(): void {
    const r = this.run;
    if (r === null) return;
    this.run = null;
    this.out.push(r.start === 0 && r.end === r.buf.length ? r.buf : r.buf.subarray(r.start, r.end));
  }

  /** Bytes batched so far. */
  pending(): number {
    let n = this.run === null ? 0 : this.run.end - this.run.start;
    for (const b of this.out) n += b.length;
    return n;
  }

  /** What is batched, as one buffer; null when nothing. */
  take(): Buffer | null {
    this.closeRun();
    const out = this.out;
    if (out.length === 0) return null;
    this.out = [];
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

export class H2Splice {
  /** the client: its frames read, bytes for it batched */
  private readonly cSide: Side;
  /** the upstream */
  private readonly uSide: Side;
  private prefaceLeft = H2_PREFACE.length;
  /** calls by client stream id, and by upstream stream id */
  private readonly calls = new Map<number, SpliceCall>();
  private readonly byUpstream = new Map<number, SpliceCall>();
  /** upstream id -> client id of calls over, while frames may still come (only when the ids differ) */
  private readonly closedUp = new Map<number, number>();
  /** upstream ids of calls the agent cut (truncate): what still comes for them is dropped */
  private readonly cutUp = new Map<number, number>();
  private lastClientId = 0;
  private lastUpstreamId = -1;
  /** ids differ on the two connections for some call */
  private remapped = false;
  /** bytes sent the client beyond the upstream's (malform): taken off the client's connection WINDOW_UPDATEs */
  private connectionDebt = 0;
  private readonly timers = new Set<() => void>();
  /** streams the client may cancel (rapid reset, CVE-2023-44487) */
  private readonly resetBudget: ResetBudget;
  private clientFin = false;
  private upstreamFinSent = false;
  private dead = false;
  private onClientDemandFn: (() => void) | null = null;
  private onUpstreamDemandFn: (() => void) | null = null;
  private flushing = false;
  /** the server sent its first frame (its SETTINGS): until then nothing the agent writes may reach the client */
  private serverSpoke = false;

  constructor(
    private readonly host: SpliceHost,
    private readonly now: () => number = () => performance.now(),
  ) {
    // the reader of a side bounds frames by what the receiving peer accepts
    this.cSide = new Side(() => Math.max(this.uSide.maxFrame, DEFAULT_MAX_FRAME));
    this.uSide = new Side(() => Math.max(this.cSide.maxFrame, DEFAULT_MAX_FRAME));
    this.resetBudget = new ResetBudget(now);
  }

  onClientDemand(fn: () => void): void {
    this.onClientDemandFn = fn;
  }

  onUpstreamDemand(fn: () => void): void {
    this.onUpstreamDemandFn = fn;
  }

  /** Bytes from the client; false = pause the client until its demand callback. */
  fromClient(chunk: Buffer): boolean {
    if (this.dead) return true;
    let buf = chunk;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, buf.length);
      const at = H2_PREFACE.length - this.prefaceLeft;
      if (!buf.subarray(0, n).equals(H2_PREFACE.subarray(at, at + n))) return this.fail("client", new FrameError("no connection preface", PROTOCOL_ERROR));
      this.prefaceLeft -= n;
      this.uSide.write(buf.subarray(0, n));
      buf = buf.subarray(n);
    }
    try {
      // (once the connection is reset, the rest of the read is not looked at)
      if (buf.length > 0) this.cSide.reader.push(buf, (f) => this.dead || this.clientFrame(f));
      // before the server's preface, what the agent has for the client waits, bounded
      if (!this.serverSpoke && this.cSide.pending() > MAX_EARLY_BYTES) throw new FrameError("the server has not spoken and the client keeps asking", ENHANCE_YOUR_CALM);
    } catch (e) {
      return this.fail("client", e);
    }
    return this.flush(this.cSide);
  }

  fromUpstream(chunk: Buffer): boolean {
    if (this.dead) return true;
    try {
      this.uSide.reader.push(chunk, (f) => this.dead || this.upstreamFrame(f));
    } catch (e) {
      return this.fail("upstream", e);
    }
    return this.flush(this.uSide);
  }

  clientEnded(): void {
    if (this.dead) return;
    this.clientFin = true;
    this.maybeEndUpstream();
  }

  upstreamEnded(): void {
    if (this.dead) return;
    // the server is gone: nothing more can come for the client's calls
    this.flushAll();
    this.host.endClient();
    this.finish();
  }

  clientDrained(): void {
    this.drained("client");
  }

  upstreamDrained(): void {
    this.drained("upstream");
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    for (const cancel of this.timers) cancel();
    this.timers.clear();
    for (const c of this.calls.values()) c.shaper?.close();
    this.calls.clear();
    this.byUpstream.clear();
  }

  // ---- the client's frames ----

  private clientFrame(f: Frame): void {
    const side = this.cSide;
    if (side.block !== null && f.type !== CONTINUATION) throw new FrameError("a frame inside a header block", PROTOCOL_ERROR);
    switch (f.type) {
      case SETTINGS:
        if (f.stream !== 0) throw new FrameError("SETTINGS on a stream", PROTOCOL_ERROR);
        if ((f.flags & FLAG_ACK) === 0) this.settings(f, this.uSide, this.cSide);
        this.uSide.pass(f);
        return;
      case PING:
      case GOAWAY:
        this.uSide.pass(f);
        return;
      case WINDOW_UPDATE:
        return this.clientWindowUpdate(f);
      case PRIORITY: {
        if (f.stream % 2 === 0) return this.uSide.pass(f);
        const c = this.calls.get(f.stream);
        if (c !== undefined && c.upstreamId !== 0) this.uSide.passAs(f, c.upstreamId);
        return;
      }
      case RST_STREAM:
        return this.clientReset(f);
      case HEADERS:
        if (f.stream === 0 || f.stream % 2 === 0) throw new FrameError("HEADERS on stream " + f.stream, PROTOCOL_ERROR);
        return this.blockStart(side, f, false, (b) => this.clientBlock(b));
      case CONTINUATION:
        return this.blockMore(side, f, (b) => this.clientBlock(b));
      case DATA:
        return this.clientData(f);
      case PUSH_PROMISE:
        throw new FrameError("PUSH_PROMISE from a client", PROTOCOL_ERROR);
      default: {
        // an extension's frame: on the connection, or on a stream the upstream knows
        if (f.stream === 0) return this.uSide.pass(f);
        const c = this.calls.get(f.stream);
        if (c !== undefined && c.upstreamId !== 0) this.uSide.passAs(f, c.upstreamId);
      }
    }
  }

  /** SETTINGS from `sender`: its table size bounds `other`'s encoder, its frame size bounds what `other` sends. */
  private settings(f: Frame, other: Side, sender: Side): void {
    if (f.length % 6 !== 0) throw new FrameError("SETTINGS of a length not a multiple of 6", PROTOCOL_ERROR);
    for (let i = f.start + FRAME_HEADER; i < f.end; i += 6) {
      const id = f.buf.readUInt16BE(i);
      const v = f.buf.readUInt32BE(i + 2);
      if (id === SETTINGS_HEADER_TABLE_SIZE) other.decoder.allow(Math.min(v, 1 << 20));
      else if (id === SETTINGS_MAX_FRAME_SIZE) sender.maxFrame = Math.min(Math.max(v, DEFAULT_MAX_FRAME), 16_777_215);
    }
  }

  private clientWindowUpdate(f: Frame): void {
    if (f.length !== 4) throw new FrameError("WINDOW_UPDATE of " + f.length + " bytes", PROTOCOL_ERROR);
    let inc = f.buf.readUInt32BE(f.start + FRAME_HEADER) & 0x7fffffff;
    if (f.stream === 0) {
      if (this.connectionDebt === 0) return this.uSide.pass(f);
      const take = Math.min(inc, this.connectionDebt);
      this.connectionDebt -= take;
      inc -= take;
      if (inc > 0) this.uSide.write(windowUpdate(0, inc));
      return;
    }
    // the server's own streams (even: pushes) keep their ids
    if (f.stream % 2 === 0) return this.uSide.pass(f);
    const c = this.calls.get(f.stream);
    if (c === undefined || c.upstreamId === 0) return;
    if (c.streamDebt === 0) return this.uSide.passAs(f, c.upstreamId);
    const take = Math.min(inc, c.streamDebt);
    c.streamDebt -= take;
    inc -= take;
    if (inc > 0) this.uSide.write(windowUpdate(c.upstreamId, inc));
  }

  private clientReset(f: Frame): void {
    if (f.length !== 4) throw new FrameError("RST_STREAM of " + f.length + " bytes", PROTOCOL_ERROR);
    if (f.stream !== 0 && f.stream % 2 === 0) return this.uSide.pass(f);
    const c = this.calls.get(f.stream);
    if (c === undefined) return;
    this.resetBudget.take();
    const code = f.buf.readUInt32BE(f.start + FRAME_HEADER);
    if (c.upstreamId !== 0) this.uSide.passAs(f, c.upstreamId);
    else if (c.heldBytes > 0) this.cSide.write(windowUpdate(0, c.heldBytes)); // held DATA never goes: its window comes back
    c.resetCode = code;
    this.end(c);
  }

  private clientData(f: Frame): void {
    const c = this.calls.get(f.stream);
    const end = (f.flags & FLAG_END_STREAM) !== 0;
    if (c === undefined || c.clientDone) {
      // a stream over (or never opened): the bytes go nowhere, their window comes back
      if (f.length > 0) this.cSide.write(windowUpdate(0, f.length));
      return;
    }
    if (c.watched !== null) c.watched.data(payloadOf(f));
    if (c.upstreamId !== 0) this.uSide.passAs(f, c.upstreamId);
    else if (c.state === "held") {
      // a copy: a view would keep the whole read buffer while the call waits
      c.held.push({ data: Buffer.from(f.buf.subarray(f.start + FRAME_HEADER, f.end)), flags: f.flags, flowBytes: f.length });
      c.heldBytes += f.length;
    } else if (f.length > 0) {
      // answered here: dropped, both windows given back (the stream's while the client may send more)
      this.cSide.write(windowUpdate(0, f.length));
      if (!end) this.cSide.write(windowUpdate(f.stream, f.length));
    }
    if (end) this.clientDone(c);
  }

  private clientDone(c: SpliceCall): void {
    c.clientDone = true;
    c.watched?.requestEnd();
    if (c.responseDone || c.state === "answered") this.end(c);
  }

  // ---- header blocks ----

  private blockStart(side: Side, f: Frame, push: boolean, done: (b: Block) => void): void {
    const payload = payloadOf(f);
    const b: Block = { stream: f.stream, frames: [f], fragments: [payload], bytes: payload.length, endStream: (f.flags & FLAG_END_STREAM) !== 0, push };
    if ((f.flags & FLAG_END_HEADERS) !== 0) return done(b);
    side.block = b;
  }

  private blockMore(side: Side, f: Frame, done: (b: Block) => void): void {
    const b = side.block;
    if (b === null || f.stream !== b.stream) throw new FrameError("CONTINUATION out of a header block", PROTOCOL_ERROR);
    b.frames.push(f);
    b.fragments.push(f.buf.subarray(f.start + FRAME_HEADER, f.end));
    b.bytes += f.length;
    if (b.bytes > MAX_BLOCK_BYTES) throw new FrameError("a header block over " + MAX_BLOCK_BYTES + " bytes", ENHANCE_YOUR_CALM);
    if ((f.flags & FLAG_END_HEADERS) === 0) return;
    side.block = null;
    done(b);
  }

  private decodeBlock(side: Side, b: Block): { fields: HeaderField[]; changed: boolean } {
    const bytes = b.fragments.length === 1 ? b.fragments[0]! : Buffer.concat(b.fragments, b.bytes);
    try {
      return side.decoder.decode(bytes);
    } catch (e) {
      if (e instanceof HpackError) throw new FrameError("HPACK: " + e.message, COMPRESSION_ERROR);
      throw e;
    }
  }

  /** A block of `side`'s that its far peer never gets in order: if it moved the table, later ones are re-encoded. */
  private skipped(side: Side, changed: boolean): void {
    if (changed) side.diverged = true;
  }

  /** A block of `from`'s to the far peer on `stream`: as it came while in step, else re-encoded. */
  private sendBlock(from: Side, to: Side, b: Block, fields: HeaderField[], stream: number): void {
    if (!from.diverged) {
      for (const f of b.frames) to.passAs(f, stream);
      return;
    }
    to.write(...headerFrames(stream, encodeLiteral(fields), b.endStream, to.maxFrame));
  }

  private clientBlock(b: Block): void {
    const side = this.cSide;
    const { fields, changed } = this.decodeBlock(side, b);
    const existing = this.calls.get(b.stream);
    if (existing !== undefined) {
      // the client's trailers
      if (existing.upstreamId !== 0) this.sendBlock(side, this.uSide, b, fields, existing.upstreamId);
      else {
        this.skipped(side, changed);
        if (existing.state === "held") existing.held.push({ fields, end: b.endStream });
      }
      if (b.endStream) this.clientDone(existing);
      return;
    }
    if (b.stream <= this.lastClientId) {
      // a stream over: nothing to pass it to
      this.skipped(side, changed);
      return;
    }
    this.lastClientId = b.stream;
    if (this.calls.size >= MAX_LIVE_CALLS) throw new FrameError("too many open streams", ENHANCE_YOUR_CALM);
    const call = callOf(fields);
    const decision = this.host.decide(call);
    const planned: H2Outcome = decision.kind === "answer" ? decision.outcome : OUTCOME_OF[decision.kind];
    const watched = this.host.identifying() ? new WatchedSpliceCall(call, this.host, this.now, planned) : null;
    const c = new SpliceCall(b.stream, call, watched);
    c.outcome = planned;
    this.calls.set(b.stream, c);
    switch (decision.kind) {
      case "forward":
        break;
      case "lose":
        c.lose = true;
        break;
      case "answer":
        c.shaper = shaperFor(decision.fault, this.shaperOut(c));
        break;
      case "limit": {
        const answer = trailersOnly(GRPC_STATUS.RESOURCE_EXHAUSTED, "rate limited", contentTypeOf(call));
        answer["grpc-retry-pushback-ms"] = String(Math.max(1, Math.ceil(decision.retryAfterMs)));
        this.answer(c, b, changed, answer as Record<string, string | number>, "limited", decision.trip);
        return;
      }
      case "fail":
        this.answer(c, b, changed, trailersOnly(decision.status, decision.message, contentTypeOf(call)) as Record<string, string | number>, "failed", decision.trip);
        return;
      case "reset":
        this.skipped(side, changed);
        this.settle(c, "reset", null);
        if (decision.scope === "connection") {
          this.dead = true;
          this.host.resetConnection(`request ${call.path}`);
          return;
        }
        this.cSide.write(rstStream(b.stream, decision.code));
        c.resetCode = decision.code;
        this.end(c);
        return;
      case "delay": {
        this.skipped(side, changed);
        c.state = "held";
        c.heldHead = { fields, end: b.endStream };
        if (b.endStream) c.clientDone = true;
        const cancel = decision.hold(() => {
          this.timers.delete(cancel);
          c.cancelHold = null;
          this.release(c);
        });
        c.cancelHold = () => {
          this.timers.delete(cancel);
          cancel();
        };
        this.timers.add(cancel);
        if (b.endStream) c.watched?.requestEnd();
        return;
      }
    }
    this.open(c);
    this.sendBlock(side, this.uSide, b, fields, c.upstreamId);
    if (b.endStream) this.clientDone(c);
  }

  /** Gives the call its stream id upstream. */
  private open(c: SpliceCall): void {
    const id = this.lastUpstreamId < 0 ? c.clientId : Math.max(c.clientId, this.lastUpstreamId + 2);
    this.lastUpstreamId = id;
    if (id !== c.clientId) this.remapped = true;
    c.upstreamId = id;
    c.state = "forwarded";
    c.sentAt = this.now();
    this.byUpstream.set(id, c);
  }

  /**
   * A trailers-only answer from the agent in the server's place; with `trip` it leaves once its
   * request would have reached the server up the link (other calls' frames go on meanwhile).
   */
  private answer(c: SpliceCall, b: Block, changed: boolean, headers: Record<string, string | number>, outcome: H2Outcome, trip?: Hold): void {
    this.skipped(this.cSide, changed);
    c.state = "answered";
    c.responseStarted = true;
    c.responseDone = true;
    const fields: HeaderField[] = Object.entries(headers).map(([k, v]) => [k, String(v)]);
    const frames = headerFrames(c.clientId, encodeLiteral(fields), true, this.cSide.maxFrame);
    if (trip === undefined) this.cSide.write(...frames);
    else {
      const cancel = trip(() => {
        this.timers.delete(cancel);
        if (this.dead) return;
        this.cSide.write(...frames);
        this.flushLater();
      });
      this.timers.add(cancel);
    }
    this.settle(c, outcome, null);
    if (b.endStream) this.clientDone(c);
  }

  /** A delay let go of its call: its block (re-encoded), then what it held, go upstream now. */
  private release(c: SpliceCall): void {
    if (this.dead || this.calls.get(c.clientId) !== c || c.heldHead === null) return;
    this.open(c);
    const up = this.uSide;
    up.write(...headerFrames(c.upstreamId, encodeLiteral(c.heldHead.fields), c.heldHead.end, up.maxFrame));
    c.heldHead = null;
    for (const h of c.held) {
      if ("data" in h) up.write(frameHeader(h.data.length, DATA, h.flags, c.upstreamId), h.data);
      else up.write(...headerFrames(c.upstreamId, encodeLiteral(h.fields), h.end, up.maxFrame));
    }
    c.held = [];
    c.heldBytes = 0;
    this.flushAll();
    this.maybeEndUpstream();
  }

  // ---- the upstream's frames ----

  private upstreamFrame(f: Frame): void {
    const side = this.uSide;
    if (!this.serverSpoke) {
      // the server's preface (its SETTINGS) goes first: what the agent wrote the client before it waited
      this.serverSpoke = true;
      const early = this.cSide.take();
      this.upstreamFrame(f);
      if (early !== null) this.cSide.write(early);
      return;
    }
    if (side.block !== null && f.type !== CONTINUATION) throw new FrameError("a frame inside a header block", PROTOCOL_ERROR);
    switch (f.type) {
      case SETTINGS:
        if (f.stream !== 0) throw new FrameError("SETTINGS on a stream", PROTOCOL_ERROR);
        if ((f.flags & FLAG_ACK) === 0) this.settings(f, this.cSide, this.uSide);
        this.cSide.pass(f);
        return;
      case PING:
        this.cSide.pass(f);
        return;
      case GOAWAY:
        return this.upstreamGoaway(f);
      case HEADERS:
        return this.blockStart(side, f, false, (b) => this.upstreamBlock(b));
      case PUSH_PROMISE:
        return this.blockStart(side, f, true, (b) => this.upstreamBlock(b));
      case CONTINUATION:
        return this.blockMore(side, f, (b) => this.upstreamBlock(b));
      case DATA:
        return this.upstreamData(f);
      case RST_STREAM: {
        const c = this.byUpstream.get(f.stream);
        if (c === undefined) {
          const id = this.toClientId(f.stream);
          if (id !== 0) this.cSide.passAs(f, id);
          return;
        }
        if (c.lose) return;
        this.cSide.passAs(f, c.clientId);
        c.resetCode = f.length === 4 ? f.buf.readUInt32BE(f.start + FRAME_HEADER) : INTERNAL_ERROR;
        this.end(c);
        return;
      }
      default: {
        // WINDOW_UPDATE, PRIORITY, extensions
        if (f.stream === 0) return this.cSide.pass(f);
        const id = this.toClientId(f.stream);
        if (id !== 0) this.cSide.passAs(f, id);
      }
    }
  }

  /** The client's id of an upstream stream; 0 when unknown and ids are mapped. */
  private toClientId(upstreamId: number): number {
    // the server's own streams (even: pushes) keep their ids
    if (upstreamId % 2 === 0) return upstreamId;
    const c = this.byUpstream.get(upstreamId);
    if (c !== undefined) return c.clientId;
    if (!this.remapped) return upstreamId;
    return this.closedUp.get(upstreamId) ?? 0;
  }

  private upstreamGoaway(f: Frame): void {
    if (!this.remapped || f.length < 8) return this.cSide.pass(f);
    // the last stream id the server took, in the client's ids
    const last = f.buf.readUInt32BE(f.start + FRAME_HEADER) & 0x7fffffff;
    let clientLast = 0;
    if (last >= this.lastUpstreamId) clientLast = Math.max(last, this.lastClientId);
    else for (const c of this.byUpstream.values()) if (c.upstreamId <= last) clientLast = Math.max(clientLast, c.clientId);
    const out = Buffer.from(f.buf.subarray(f.start, f.end));
    out.writeUInt32BE(Math.min(clientLast, 0x7fffffff), FRAME_HEADER);
    this.cSide.write(out);
  }

  private upstreamBlock(b: Block): void {
    const side = this.uSide;
    const { fields, changed } = this.decodeBlock(side, b);
    const c = this.byUpstream.get(b.stream);
    if (c === undefined) {
      // a stream the agent no longer follows: the client still decodes the block (HPACK), unless
      // the agent reset that stream toward it
      const id = this.cutUp.has(b.stream) ? 0 : this.toClientId(b.stream);
      if (id !== 0 || b.push) return this.sendBlock(side, this.cSide, b, fields, id === 0 ? b.stream : id);
      this.skipped(side, changed);
      return;
    }
    const status = valueOf(fields, ":status");
    const informational = status !== undefined && status.startsWith("1");
    if (!b.push && !informational && !c.responseStarted) {
      c.responseStarted = true;
      this.settle(c, c.outcome, (this.now() - c.sentAt) / 1000);
      if (c.lose) {
        // the server did the work; its answer never reaches the client, whose connection dies
        this.dead = true;
        this.host.resetConnection(`answer to ${c.call.path} lost`);
        return;
      }
      if (b.endStream) c.watched?.status(valueOf(fields, "grpc-status"));
    } else if (!b.push && c.responseStarted && b.endStream) c.watched?.status(valueOf(fields, "grpc-status"));
    if (c.lose) return this.skipped(side, changed);
    if (c.shaper !== null && !c.cut && c.shaper.queueHeaders(fields, b.endStream)) {
      this.skipped(side, changed);
      return;
    }
    this.sendBlock(side, this.cSide, b, fields, c.clientId);
    if (b.endStream && !b.push) this.responseDone(c);
  }

  private upstreamData(f: Frame): void {
    const c = this.byUpstream.get(f.stream);
    const end = (f.flags & FLAG_END_STREAM) !== 0;
    if (c === undefined) {
      const id = this.cutUp.has(f.stream) ? 0 : this.toClientId(f.stream);
      if (id !== 0) return this.cSide.passAs(f, id);
      // nobody takes these bytes (a call the agent cut): their window goes back to the server
      if (f.length > 0) this.uSide.write(windowUpdate(0, f.length));
      return;
    }
    if (c.lose) {
      if (f.length > 0) this.uSide.write(windowUpdate(0, f.length));
      return;
    }
    if (c.shaper !== null) c.shaper.data(payloadOf(f), f.length, end, () => this.cSide.passAs(f, c.clientId));
    else this.cSide.passAs(f, c.clientId);
    if (end) this.responseDone(c);
  }

  private responseDone(c: SpliceCall): void {
    c.responseDone = true;
    if (c.clientDone) this.end(c);
  }

  private shaperOut(c: SpliceCall): ShaperOut {
    return {
      data: (payload, end) => {
        if (c.resetCode !== undefined) return;
        this.cSide.write(...dataFrames(c.clientId, payload, end, this.cSide.maxFrame));
        this.flushLater();
      },
      headers: (fields, end) => {
        if (c.resetCode === undefined) this.cSide.write(...headerFrames(c.clientId, encodeLiteral(fields), end, this.cSide.maxFrame));
        if (end) this.responseDone(c);
        this.flushLater();
      },
      giveBack: (n, stream) => {
        this.uSide.write(windowUpdate(0, n));
        if (stream && c.upstreamId !== 0) this.uSide.write(windowUpdate(c.upstreamId, n));
        this.flushLater();
      },
      owe: (n) => {
        this.connectionDebt += n;
        c.streamDebt += n;
      },
      cut: () => {
        c.cut = true;
        this.cSide.write(rstStream(c.clientId, INTERNAL_ERROR));
        if (c.upstreamId !== 0) this.uSide.write(rstStream(c.upstreamId, CANCEL));
        c.resetCode = INTERNAL_ERROR;
        this.end(c);
        this.flushLater();
      },
    };
  }

  // ---- calls ending ----

  private settle(c: SpliceCall, outcome: H2Outcome, seconds: number | null): void {
    if (c.watched !== null) c.watched.settled(outcome, seconds);
    else this.host.settled(c.call, outcome, seconds);
  }

  /** The call is over on the client's side (and upstream, or the agent answered or reset it). */
  private end(c: SpliceCall): void {
    if (this.calls.get(c.clientId) === c) this.calls.delete(c.clientId);
    if (c.cancelHold !== null) {
      c.cancelHold();
      c.cancelHold = null;
    }
    if (c.shaper !== null) {
      const held = c.shaper.close();
      if (held > 0 && !c.cut) this.uSide.write(windowUpdate(0, held));
    }
    if (c.upstreamId !== 0 && this.byUpstream.get(c.upstreamId) === c) {
      this.byUpstream.delete(c.upstreamId);
      if (c.cut) remember(this.cutUp, c.upstreamId, c.clientId);
      if (this.remapped) {
        remember(this.closedUp, c.upstreamId, c.clientId);
      }
    }
    c.held = [];
    c.heldHead = null;
    c.watched?.closed(c.resetCode, c.responseStarted);
    if (c.state === "held") this.maybeEndUpstream();
  }

  private maybeEndUpstream(): void {
    if (!this.clientFin || this.upstreamFinSent) return;
    for (const c of this.calls.values()) if (c.state === "held" && c.heldHead !== null) return;
    this.upstreamFinSent = true;
    this.flushAll();
    this.host.endUpstream();
  }

  private finish(): void {
    if (this.dead) return;
    this.destroy();
    this.host.close();
  }

  /** A side broke HTTP/2: both peers are told (GOAWAY) and the connection ends. */
  private fail(side: "client" | "upstream", e: unknown): boolean {
    if (this.dead) return true;
    const code = e instanceof FrameError ? e.code : INTERNAL_ERROR;
    this.host.broken(side, e instanceof Error ? e.message : String(e));
    this.cSide.take();
    this.uSide.take();
    if (side === "client") this.host.toClient(goaway(this.lastClientId, code));
    else this.host.toClient(goaway(this.lastClientId, NO_ERROR));
    this.host.toUpstream(goaway(0, side === "client" ? NO_ERROR : code));
    this.finish();
    return true;
  }

  // ---- writing and backpressure ----

  /** Writes what both sides batched; false when `reader`'s peer should wait. */
  private flush(reader: Side): boolean {
    const toUp = this.uSide.take();
    const toClient = this.serverSpoke ? this.cSide.take() : null;
    let ok = true;
    if (toUp !== null && !this.dead && !this.host.toUpstream(toUp)) {
      ok = false;
      reader.waitsOnUpstream = true;
    }
    if (toClient !== null && !this.dead && !this.host.toClient(toClient)) {
      ok = false;
      reader.waitsOnClient = true;
    }
    if (!ok) reader.paused = true;
    return ok;
  }

  private flushAll(): void {
    const toUp = this.uSide.take();
    const toClient = this.serverSpoke ? this.cSide.take() : null;
    if (this.dead) return;
    if (toUp !== null) this.host.toUpstream(toUp);
    if (toClient !== null) this.host.toClient(toClient);
  }

  /** Output made outside a read (a timer): written at the end of this tick. */
  private flushLater(): void {
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(() => {
      this.flushing = false;
      this.flushAll();
    });
  }

  private drained(which: "client" | "upstream"): void {
    for (const [side, demand] of [
      [this.cSide, this.onClientDemandFn],
      [this.uSide, this.onUpstreamDemandFn],
    ] as const) {
      if (which === "client") side.waitsOnClient = false;
      else side.waitsOnUpstream = false;
      if (side.paused && !side.waitsOnClient && !side.waitsOnUpstream) {
        side.paused = false;
        demand?.();
      }
    }
  }
}

/**
 * A token bucket for the client's stream resets, as nghttp2's (a burst of 1000, 33 a second):
 * beyond it the client is resetting streams faster than any client cancels calls, and the
 * connection ends (GOAWAY ENHANCE_YOUR_CALM).
 */
class ResetBudget {
  private tokens = RESET_BURST;
  private at: number;

  constructor(private readonly now: () => number) {
    this.at = now();
  }

  take(): void {
    const t = this.now();
    this.tokens = Math.min(RESET_BURST, this.tokens + ((t - this.at) / 1000) * RESETS_PER_SECOND);
    this.at = t;
    if (this.tokens < 1) throw new FrameError("rapid reset: streams reset faster than " + RESETS_PER_SECOND + "/s", ENHANCE_YOUR_CALM);
    this.tokens -= 1;
  }
}

const RESET_BURST = 1000;
const RESETS_PER_SECOND = 33;

function remember(m: Map<number, number>, k: number, v: number): void {
  m.set(k, v);
  if (m.size > CLOSED_MAPPINGS) m.delete(m.keys().next().value as number);
}

const OUTCOME_OF: Record<Exclude<H2Decision["kind"], "answer">, H2Outcome> = { forward: "forwarded", fail: "failed", delay: "delayed", lose: "lost", reset: "reset", limit: "limited" };

function valueOf(fields: HeaderField[], name: string): string | undefined {
  for (const [k, v] of fields) if (k === name) return v;
  return undefined;
}

function contentTypeOf(call: H2Call): string {
  return call.metadata["content-type"] ?? "application/grpc";
}

/** The call as rules see it: pseudo-headers, and the rest as metadata (repeated names joined). */
function callOf(fields: HeaderField[]): H2Call {
  const metadata: Record<string, string> = {};
  let path = "";
  let method = "";
  let authority = "";
  let host = "";
  for (const [k, v] of fields) {
    if (k.startsWith(":")) {
      if (k === ":path") path = v;
      else if (k === ":method") method = v;
      else if (k === ":authority") authority = v;
      continue;
    }
    if (k === "host") host = v;
    const prev = metadata[k];
    metadata[k] = prev === undefined ? v : k === "cookie" ? `${prev}; ${v}` : `${prev}, ${v}`;
  }
  const contentType = metadata["content-type"] ?? "";
  return { path, method, authority: authority || host, metadata, grpc: contentType.startsWith("application/grpc") };
}
