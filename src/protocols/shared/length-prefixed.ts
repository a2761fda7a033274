// An incremental reader of length-prefixed frames, fed chunk by chunk: a fixed-size header that
// gives a tag and the body's length, then the body. PostgreSQL messages (a type byte and an
// Int32 length; the startup message has no type byte) and MySQL packets (a 3-byte length and a
// sequence id) are both read with it; each protocol says how its header reads.
//
// A header or body that lies whole in the chunk is read in place (a body is handed on as a slice
// of the chunk, not a copy); only one split across chunks is gathered.

/** How one protocol's frame header reads. */
export interface FrameHeader {
  /** header bytes of the next frame (may change: postgres's untyped startup message) */
  size(): number;
  /** the frame's tag at buf[at]: a type byte, a sequence id */
  tag(buf: Buffer, at: number): number;
  /** the body's length from the header at buf[at], or a text saying why it cannot be one */
  bodyLength(buf: Buffer, at: number): number | string;
}

const EMPTY = Buffer.alloc(0);

export class LengthPrefixedReader {
  /** header bytes gathered across chunks (empty while none is split) */
  private head: Buffer = EMPTY;
  /** bytes of the current body still to come */
  private skip = 0;
  /** the current body's pieces, when it is kept */
  private keep: Buffer[] | null = null;
  private tag = 0;
  /** set once a header cannot be read: nothing more is framed */
  bad: string | null = null;

  /** `maxKept`: a longer body is never kept (its frame is reported with body null) */
  constructor(
    private readonly header: FrameHeader,
    private readonly maxKept = Infinity,
  ) {}

  /** True while the bytes fed so far end inside a frame. */
  get inFrame(): boolean {
    return this.skip > 0 || this.head.length > 0;
  }

  /** Feeds bytes; calls frame(tag, end, body | null) per whole frame; `want(tag)` says whether to keep its body. */
  feed(chunk: Buffer, want: (tag: number) => boolean, frame: (tag: number, end: number, body: Buffer | null) => void): void {
    let pos = 0;
    while (pos < chunk.length && this.bad === null) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, chunk.length - pos);
        this.keep?.push(chunk.subarray(pos, pos + take));
        this.skip -= take;
        pos += take;
        if (this.skip === 0) {
          const body = this.keep !== null ? (this.keep.length === 1 ? this.keep[0]! : Buffer.concat(this.keep)) : null;
          this.keep = null;
          frame(this.tag, pos, body);
        }
        continue;
      }
      const size = this.header.size();
      let length: number | string;
      if (this.head.length === 0 && chunk.length - pos >= size) {
        // the usual case: the header is read in place
        this.tag = this.header.tag(chunk, pos);
        length = this.header.bodyLength(chunk, pos);
        pos += size;
      } else {
        const take = Math.min(size - this.head.length, chunk.length - pos);
        this.head = Buffer.concat([this.head, chunk.subarray(pos, pos + take)]);
        pos += take;
        if (this.head.length < size) return;
        this.tag = this.header.tag(this.head, 0);
        length = this.header.bodyLength(this.head, 0);
        this.head = EMPTY;
      }
      if (typeof length === "string") {
        this.bad = length;
        return;
      }
      const keep = length <= this.maxKept && want(this.tag);
      if (chunk.length - pos >= length) {
        // the whole body is in this chunk: a slice of it
        const body = keep ? chunk.subarray(pos, pos + length) : null;
        pos += length;
        frame(this.tag, pos, body);
        continue;
      }
      this.skip = length;
      this.keep = keep ? [] : null;
    }
  }
}
