// Answer faults on a gRPC call (answer-rule.ts): the server's response DATA, read as gRPC's
// length-prefixed messages (PROTOCOL-HTTP2.md: a compressed flag, a 4-byte length, the bytes),
// on its way to the client. `truncate: {messages: N}`: N messages pass, then the client's stream
// is reset (INTERNAL_ERROR: grpc-js reports INTERNAL) and the server's cancelled; `malform`: each
// message's bytes are replaced by the text's (uncompressed), so the client fails to decode it;
// `throttle`: the DATA trickles at a rate. The response's headers and trailers are the server's.
import { constants, type ClientHttp2Stream, type ServerHttp2Stream } from "node:http2";
import type { AnswerFault } from "../../requests/answer-rule.js";

/** A slice of a throttled answer carries about this many ms of it. */
const SLICE_MS = 20;

/** Relays `up`'s DATA to `stream` shaped by `fault`; the stream ends (and its trailers go) when `up` ends. */
export function relayShaped(up: ClientHttp2Stream, stream: ServerHttp2Stream, fault: AnswerFault): void {
  if (fault.kind === "throttle") return relayThrottled(up, stream, fault.bytesPerSecond);
  const messages = new MessageReader();
  const limit = fault.kind === "truncateMessages" ? fault.messages : Infinity;
  const replacement = fault.kind === "malform" ? framed(Buffer.from(fault.text, "utf8")) : null;
  let done = false;
  const cut = (): void => {
    done = true;
    up.pause();
    // the messages written before go first: the reset follows their DATA (the stream's close
    // then cancels the server's stream, h2-termination.ts)
    if (!stream.closed) stream.write(Buffer.alloc(0), () => stream.close(constants.NGHTTP2_INTERNAL_ERROR));
    else if (!up.closed && !up.destroyed) up.close(constants.NGHTTP2_CANCEL);
  };
  if (limit === 0) {
    up.once("data", cut);
    up.on("end", () => {
      if (!done && !stream.closed) stream.end();
    });
    return;
  }
  up.on("data", (chunk: Buffer) => {
    if (done || stream.closed) return;
    const out: Buffer[] = [];
    let cutNow = false;
    messages.read(chunk, (from, to, starts, ends) => {
      if (cutNow) return;
      if (replacement !== null) {
        if (starts) out.push(replacement);
      } else out.push(chunk.subarray(from, to));
      if (ends && messages.count >= limit) cutNow = true;
    });
    let ok = true;
    for (const b of out) ok = stream.write(b) && ok;
    if (cutNow) return cut();
    if (!ok) {
      up.pause();
      stream.once("drain", () => up.resume());
    }
  });
  up.on("end", () => {
    if (!done && !stream.closed) stream.end();
  });
}

/** A message's 5-byte prefix and the message: uncompressed. */
export function framed(bytes: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/** Finds gRPC message boundaries in a stream of DATA bytes. */
export class MessageReader {
  /** complete messages seen */
  count = 0;
  private readonly header = Buffer.alloc(5);
  private headerLeft = 5;
  private inBody = false;
  private bodyLeft = 0;

  /**
   * Walks `chunk`: `part(from, to, starts, ends)` for each run of one message's bytes (prefix
   * included); `starts` on the run holding its first byte, `ends` on the one holding its last.
   */
  read(chunk: Buffer, part: (from: number, to: number, starts: boolean, ends: boolean) => void): void {
    let i = 0;
    while (i < chunk.length) {
      const from = i;
      const starts = !this.inBody && this.headerLeft === 5;
      if (!this.inBody) {
        while (this.headerLeft > 0 && i < chunk.length) this.header[5 - this.headerLeft--] = chunk[i++]!;
        if (this.headerLeft > 0) {
          part(from, i, starts, false);
          return;
        }
        this.bodyLeft = this.header.readUInt32BE(1);
        this.inBody = true;
      }
      const n = Math.min(chunk.length - i, this.bodyLeft);
      i += n;
      this.bodyLeft -= n;
      const ends = this.bodyLeft === 0;
      if (ends) {
        this.count++;
        this.headerLeft = 5;
        this.inBody = false;
      }
      part(from, i, starts, ends);
    }
  }
}

function relayThrottled(up: ClientHttp2Stream, stream: ServerHttp2Stream, rate: number): void {
  const slice = Math.max(1, Math.floor((rate * SLICE_MS) / 1000));
  const queue: Buffer[] = [];
  let start = -1;
  let sent = 0;
  let timer: NodeJS.Timeout | null = null;
  let ended = false;
  const pump = (): void => {
    timer = null;
    if (stream.closed) {
      queue.length = 0;
      return;
    }
    const now = performance.now();
    while (queue.length > 0) {
      const due = start + ((sent + queue[0]!.length) / rate) * 1000;
      if (due > now + 1) {
        timer = setTimeout(pump, due - now);
        return;
      }
      const b = queue.shift()!;
      sent += b.length;
      stream.write(b);
    }
    if (ended) stream.end();
    else up.resume();
  };
  up.on("data", (chunk: Buffer) => {
    if (stream.closed) return;
    if (start < 0) start = performance.now();
    for (let i = 0; i < chunk.length; i += slice) queue.push(chunk.subarray(i, Math.min(chunk.length, i + slice)));
    up.pause();
    if (timer === null) pump();
  });
  up.on("end", () => {
    ended = true;
    if (timer === null && queue.length === 0 && !stream.closed) stream.end();
  });
  stream.on("close", () => {
    if (timer) clearTimeout(timer);
    timer = null;
  });
}
