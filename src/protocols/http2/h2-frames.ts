// HTTP/2 frames (RFC 9113 4.1, 6): types, flags, a reader that cuts a byte stream into whole
// frames as bytes arrive (at most one frame buffered, its length bounded) and the few frames the
// agent writes itself.

export const FRAME_HEADER = 9;

export const DATA = 0x0;
export const HEADERS = 0x1;
export const PRIORITY = 0x2;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;

export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const INTERNAL_ERROR = 0x2;
export const FLOW_CONTROL_ERROR = 0x3;
export const FRAME_SIZE_ERROR = 0x6;
export const REFUSED_STREAM = 0x7;
export const CANCEL = 0x8;
export const COMPRESSION_ERROR = 0x9;
export const ENHANCE_YOUR_CALM = 0xb;

/** The frame size every peer accepts (RFC 9113 4.2). */
export const DEFAULT_MAX_FRAME = 16_384;

/** The client's connection preface (RFC 9113 3.4). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** One whole frame: `buf[start..end)` holds its header and payload. */
export interface Frame {
  buf: Buffer;
  start: number;
  end: number;
  type: number;
  flags: number;
  stream: number;
  /** payload length */
  length: number;
}

export class FrameError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/**
 * Cuts a byte stream into frames. `push` walks a chunk and calls `each` for every whole frame in
 * it, the frames of one chunk being views of it (no copy); a frame cut across reads is gathered
 * (one copy). A frame longer than `maxLength()` is an error: nothing longer is ever buffered.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** the pending frame's whole length, once its header is in */
  private need = -1;

  constructor(private readonly maxLength: () => number) {}

  get buffered(): number {
    return this.pendingBytes;
  }

  /** Calls `each` for each whole frame the chunk completes, in order. */
  push(chunk: Buffer, each: (f: Frame) => void): void {
    const buf = chunk;
    let i = 0;
    if (this.pendingBytes > 0) {
      // complete the pending frame first
      if (this.need < 0) {
        const head = Math.min(FRAME_HEADER - this.pendingBytes, chunk.length);
        this.pending.push(chunk.subarray(0, head));
        this.pendingBytes += head;
        if (this.pendingBytes < FRAME_HEADER) return;
        const h = Buffer.concat(this.pending, FRAME_HEADER);
        this.pending = [h];
        this.need = FRAME_HEADER + this.lengthOf(h, 0);
        i = head;
      }
      const take = Math.min(this.need - this.pendingBytes, chunk.length - i);
      this.pending.push(chunk.subarray(i, i + take));
      this.pendingBytes += take;
      i += take;
      if (this.pendingBytes < this.need) return;
      const whole = Buffer.concat(this.pending, this.need);
      this.pending = [];
      this.pendingBytes = 0;
      this.need = -1;
      each(frameAt(whole, 0));
    }
    const len = buf.length;
    while (len - i >= FRAME_HEADER) {
      const end = i + FRAME_HEADER + this.lengthOf(buf, i);
      if (end > len) break;
      each(frameAt(buf, i));
      i = end;
    }
    if (i < len) {
      const rest = buf.subarray(i);
      this.pending = [rest];
      this.pendingBytes = rest.length;
      if (rest.length >= FRAME_HEADER) this.need = FRAME_HEADER + this.lengthOf(rest, 0);
    }
  }

  private lengthOf(b: Buffer, at: number): number {
    const n = (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
    if (n > this.maxLength()) throw new FrameError(`a frame of ${n} bytes (at most ${this.maxLength()})`, FRAME_SIZE_ERROR);
    return n;
  }
}

function frameAt(buf: Buffer, at: number): Frame {
  const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
  return {
    buf,
    start: at,
    end: at + FRAME_HEADER + length,
    type: buf[at + 3]!,
    flags: buf[at + 4]!,
    stream: buf.readUInt32BE(at + 5) & 0x7fffffff,
    length,
  };
}

/** A frame header. */
export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h[0] = (length >>> 16) & 0xff;
  h[1] = (length >>> 8) & 0xff;
  h[2] = length & 0xff;
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return h;
}

export function rstStream(stream: number, code: number): Buffer {
  const b = frameHeader(4, RST_STREAM, 0, stream);
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(code >>> 0);
  return Buffer.concat([b, p]);
}

export function windowUpdate(stream: number, increment: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + 4);
  frameHeader(4, WINDOW_UPDATE, 0, stream).copy(b);
  b.writeUInt32BE(increment & 0x7fffffff, FRAME_HEADER);
  return b;
}

export function goaway(lastStream: number, code: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + 8);
  frameHeader(8, GOAWAY, 0, 0).copy(b);
  b.writeUInt32BE(lastStream & 0x7fffffff, FRAME_HEADER);
  b.writeUInt32BE(code >>> 0, FRAME_HEADER + 4);
  return b;
}

/** DATA frames carrying `payload` (split at `maxFrame`), END_STREAM on the last when `end`. */
export function dataFrames(stream: number, payload: Buffer, end: boolean, maxFrame: number): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  do {
    const n = Math.min(maxFrame, payload.length - i);
    const last = i + n >= payload.length;
    out.push(frameHeader(n, DATA, last && end ? FLAG_END_STREAM : 0, stream), payload.subarray(i, i + n));
    i += n;
  } while (i < payload.length);
  return out;
}

/** A header block as HEADERS (+ CONTINUATION) frames, split at `maxFrame`. */
export function headerFrames(stream: number, block: Buffer, endStream: boolean, maxFrame: number): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  let first = true;
  do {
    const n = Math.min(maxFrame, block.length - i);
    const last = i + n >= block.length;
    const flags = (first && endStream ? FLAG_END_STREAM : 0) | (last ? FLAG_END_HEADERS : 0);
    out.push(frameHeader(n, first ? HEADERS : CONTINUATION, flags, stream), block.subarray(i, i + n));
    i += n;
    first = false;
  } while (i < block.length);
  return out;
}

/** The frame's payload without padding (DATA, HEADERS, PUSH_PROMISE: PADDED), and for HEADERS without the priority fields. */
export function payloadOf(f: Frame): Buffer {
  let from = f.start + FRAME_HEADER;
  let to = f.end;
  if ((f.type === DATA || f.type === HEADERS || f.type === PUSH_PROMISE) && (f.flags & FLAG_PADDED) !== 0) {
    if (f.length < 1) throw new FrameError("padded frame without its pad length", PROTOCOL_ERROR);
    const pad = f.buf[from]!;
    from++;
    to -= pad;
    if (to < from) throw new FrameError("padding longer than the payload", PROTOCOL_ERROR);
  }
  if (f.type === HEADERS && (f.flags & FLAG_PRIORITY) !== 0) {
    from += 5;
    if (to < from) throw new FrameError("HEADERS too short for its priority", FRAME_SIZE_ERROR);
  }
  if (f.type === PUSH_PROMISE) {
    from += 4;
    if (to < from) throw new FrameError("PUSH_PROMISE too short", FRAME_SIZE_ERROR);
  }
  return f.buf.subarray(from, to);
}
