// Answer faults on a call through the splice (h2-splice.ts), frame by frame: the upstream's
// response DATA, read as gRPC's length-prefixed messages, on its way to the client.
// `truncate: {messages: N}`: N messages pass, then the call is reset both ways; `malform`: each
// message's bytes replaced by the text's; `throttle`: the DATA trickles at a rate, the trailers
// behind it. What the client never gets is given back to the upstream's flow-control window.
import type { AnswerFault } from "../../requests/answer-rule.js";
import { framed, MessageReader } from "./grpc-message.js";
import type { HeaderField } from "./hpack.js";

/** A slice of a throttled answer carries about this many ms of it. */
const SLICE_MS = 20;

/** What a shaper does to the call's stream. */
export interface ShaperOut {
  /** DATA for the client on the call's stream */
  data(payload: Buffer, end: boolean): void;
  /** a header block that waited behind DATA, now due */
  headers(fields: HeaderField[], end: boolean): void;
  /** `n` flow-controlled bytes the upstream sent that the client never gets (and the stream's, when `stream`) */
  giveBack(n: number, stream: boolean): void;
  /** the client got `n` bytes more than the upstream sent */
  owe(n: number): void;
  /** resets the call on both sides */
  cut(): void;
}

export interface AnswerShaper {
  /** A DATA frame of the response: its payload (no padding), flow-controlled length, END_STREAM; `pass` sends it as it came. */
  data(payload: Buffer, flowBytes: number, end: boolean, pass: () => void): void;
  /** A response header block: true when it waits behind DATA (then queued here). */
  queueHeaders(fields: HeaderField[], end: boolean): boolean;
  /** The call is over: timers stop; the bytes it still held (never sent the client). */
  close(): number;
}

export function shaperFor(fault: AnswerFault, out: ShaperOut): AnswerShaper {
  if (fault.kind === "throttle") return new Throttle(fault.bytesPerSecond, out);
  if (fault.kind === "malform") return new Malform(Buffer.from(fault.text, "utf8"), out);
  return new Truncate(fault.kind === "truncateMessages" ? fault.messages : Infinity, out);
}

class Truncate implements AnswerShaper {
  private readonly messages = new MessageReader();
  private done = false;

  constructor(
    private readonly limit: number,
    private readonly out: ShaperOut,
  ) {}

  data(payload: Buffer, flowBytes: number, end: boolean, pass: () => void): void {
    if (this.done) return this.out.giveBack(flowBytes, false);
    if (this.limit === 0) return this.cut(0, payload, flowBytes);
    let cutAt = -1;
    this.messages.read(payload, (_from, to, _starts, ends) => {
      if (cutAt >= 0) return;
      if (ends && this.messages.count >= this.limit) cutAt = to;
    });
    if (cutAt < 0) return pass();
    void end;
    this.cut(cutAt, payload, flowBytes);
  }

  private cut(at: number, payload: Buffer, flowBytes: number): void {
    this.done = true;
    // the messages before go first, the reset follows them
    if (at > 0) this.out.data(payload.subarray(0, at), false);
    if (flowBytes - at > 0) this.out.giveBack(flowBytes - at, false);
    this.out.cut();
  }

  queueHeaders(): boolean {
    return false;
  }

  close(): number {
    return 0;
  }
}

class Malform implements AnswerShaper {
  private readonly messages = new MessageReader();
  private readonly replacement: Buffer;

  constructor(
    text: Buffer,
    private readonly out: ShaperOut,
  ) {
    this.replacement = framed(text);
  }

  data(payload: Buffer, flowBytes: number, end: boolean): void {
    const parts: Buffer[] = [];
    this.messages.read(payload, (_from, _to, starts) => {
      if (starts) parts.push(this.replacement);
    });
    const sent = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.out.data(sent, end);
    const delta = sent.length - flowBytes;
    if (delta < 0) this.out.giveBack(-delta, !end);
    else if (delta > 0) this.out.owe(delta);
  }

  queueHeaders(): boolean {
    return false;
  }

  close(): number {
    return 0;
  }
}

type Queued = { bytes: Buffer; end: boolean } | { fields: HeaderField[]; end: boolean };

class Throttle implements AnswerShaper {
  private readonly slice: number;
  private readonly queue: Queued[] = [];
  private start = -1;
  private sent = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly rate: number,
    private readonly out: ShaperOut,
  ) {
    this.slice = Math.max(1, Math.floor((rate * SLICE_MS) / 1000));
  }

  data(payload: Buffer, flowBytes: number, end: boolean): void {
    if (flowBytes > payload.length) this.out.giveBack(flowBytes - payload.length, !end);
    if (this.start < 0) this.start = performance.now();
    if (payload.length === 0) this.queue.push({ bytes: payload, end });
    for (let i = 0; i < payload.length; i += this.slice) {
      const to = Math.min(payload.length, i + this.slice);
      this.queue.push({ bytes: payload.subarray(i, to), end: end && to === payload.length });
    }
    if (this.timer === null) this.pump();
  }

  queueHeaders(fields: HeaderField[], end: boolean): boolean {
    if (this.queue.length === 0) return false;
    this.queue.push({ fields, end });
    return true;
  }

  private pump(): void {
    this.timer = null;
    if (this.closed) return;
    const now = performance.now();
    while (this.queue.length > 0) {
      const q = this.queue[0]!;
      if ("bytes" in q) {
        const due = this.start + ((this.sent + q.bytes.length) / this.rate) * 1000;
        if (due > now + 1) {
          this.timer = setTimeout(() => this.pump(), due - now);
          return;
        }
        this.queue.shift();
        this.sent += q.bytes.length;
        this.out.data(q.bytes, q.end);
      } else {
        this.queue.shift();
        this.out.headers(q.fields, q.end);
      }
    }
  }

  close(): number {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let held = 0;
    for (const q of this.queue) if ("bytes" in q) held += q.bytes.length;
    this.queue.length = 0;
    return held;
  }
}
