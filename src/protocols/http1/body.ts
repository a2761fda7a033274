// HTTP/1.x message bodies (RFC 9112 6-7): how long a body is, and a reader that finds where it
// ends in a byte stream (content-length, chunked with extensions and trailers, until close).
// It only counts: the body's bytes go on unchanged.
import { MAX_HEAD_BYTES, hasHeader, headerTokens, headerValues, type HeaderField, type RequestHead, type ResponseHead } from "./head.js";

export type BodyFraming =
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** a response without a length: the body runs until the server closes */
  | { kind: "close" }
  /** after a 101, or a 2xx to CONNECT: the connection is no longer HTTP */
  | { kind: "tunnel" };

const NO_BODY: BodyFraming = { kind: "length", length: 0 };

/** 1..15 decimal digits as a number, else -1 */
function digits(v: string): number {
  if (v.length === 0 || v.length > 15) return -1;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(v);
}

function contentLength(headers: readonly HeaderField[]): number | null | string {
  const values = headerValues(headers, "content-length");
  if (values.length === 0) return null;
  if (values.length === 1) {
    const n = digits(values[0]!);
    if (n >= 0) return n; // the usual case: one plain length
  }
  const all = values.flatMap((v) => v.split(",").map((s) => s.trim()));
  const first = all[0]!;
  if (!/^\d{1,15}$/.test(first) || all.some((v) => v !== first)) return `bad content-length ${JSON.stringify(values.join(", ").slice(0, 40))}`;
  return Number(first);
}

/** How a request's body is framed (RFC 9112 6.3); a string says why it cannot be. */
export function requestFraming(head: RequestHead): BodyFraming | string {
  const te = hasHeader(head.headers, "transfer-encoding") ? headerTokens(head.headers, "transfer-encoding") : [];
  if (te.length > 0) {
    if (te[te.length - 1] !== "chunked") return "request transfer-encoding does not end in chunked";
    return { kind: "chunked" };
  }
  const cl = contentLength(head.headers);
  if (typeof cl === "string") return cl;
  return cl === null ? NO_BODY : { kind: "length", length: cl };
}

/** True when a response to `method` with this status is an interim one (1xx other than 101). */
export function isInterim(status: number): boolean {
  return status >= 100 && status < 200 && status !== 101;
}

/** How a response's body is framed, given the method of the request it answers. */
export function responseFraming(head: ResponseHead, method: string): BodyFraming | string {
  if (head.status === 101 || (method === "CONNECT" && head.status >= 200 && head.status < 300)) return { kind: "tunnel" };
  if (method === "HEAD" || head.status < 200 || head.status === 204 || head.status === 304) return NO_BODY;
  const te = hasHeader(head.headers, "transfer-encoding") ? headerTokens(head.headers, "transfer-encoding") : [];
  if (te.length > 0) return te[te.length - 1] === "chunked" ? { kind: "chunked" } : { kind: "close" };
  const cl = contentLength(head.headers);
  if (typeof cl === "string") return cl;
  return cl === null ? { kind: "close" } : { kind: "length", length: cl };
}

type ChunkState = "size" | "data" | "dataEnd" | "trailer" | "done";

/** the longest chunk-size line (size and extensions) accepted */
const MAX_CHUNK_LINE = 4096;

export interface BodyRead {
  /** bytes of the given buffer that belong to the body */
  used: number;
  /** the body ended within them */
  done: boolean;
}

/** Finds the end of one body in a byte stream, chunk by chunk. */
export class BodyReader {
  private remaining = 0;
  private state: ChunkState = "size";
  /** the current size line, or the current trailer line's length */
  private line = "";
  private lineLength = 0;
  private trailerBytes = 0;

  constructor(private readonly framing: BodyFraming) {
    if (framing.kind === "length") this.remaining = framing.length;
  }

  get done(): boolean {
    return (this.framing.kind === "length" && this.remaining === 0) || this.state === "done";
  }

  /** Reads from `buf` at `offset`; a string says the body is malformed. */
  read(buf: Buffer, offset = 0): BodyRead | string {
    const f = this.framing;
    const available = buf.length - offset;
    if (f.kind === "close" || f.kind === "tunnel") return { used: available, done: false };
    if (f.kind === "length") {
      const used = Math.min(available, this.remaining);
      this.remaining -= used;
      return { used, done: this.remaining === 0 };
    }
    return this.readChunked(buf, offset);
  }

  private readChunked(buf: Buffer, offset: number): BodyRead | string {
    let i = offset;
    while (i < buf.length && this.state !== "done") {
      switch (this.state) {
        case "size": {
          const b = buf[i++]!;
          if (b === 10) {
            const text = (this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line).split(";")[0]!.trim();
            if (!/^[0-9a-fA-F]{1,12}$/.test(text)) return `bad chunk size ${JSON.stringify(text.slice(0, 20))}`;
            this.remaining = parseInt(text, 16);
            this.line = "";
            this.state = this.remaining === 0 ? "trailer" : "data";
            this.lineLength = 0;
          } else {
            if (this.line.length >= MAX_CHUNK_LINE) return "chunk size line too long";
            this.line += String.fromCharCode(b);
          }
          break;
        }
        case "data": {
          const n = Math.min(buf.length - i, this.remaining);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.state = "dataEnd";
            this.line = "";
          }
          break;
        }
        case "dataEnd": {
          const b = buf[i++]!;
          if (b === 10) {
            this.state = "size";
            this.line = "";
          } else if (b !== 13 || this.line !== "") return "chunk data not followed by CRLF";
          else this.line = "\r";
          break;
        }
        case "trailer": {
          // trailer fields, then an empty line; only their length is checked
          const b = buf[i++]!;
          this.trailerBytes++;
          if (this.trailerBytes > MAX_HEAD_BYTES) return "trailer section too large";
          if (b === 10) {
            if (this.lineLength === 0) this.state = "done";
            this.lineLength = 0;
          } else if (b !== 13) this.lineLength++;
          break;
        }
      }
    }
    return { used: i - offset, done: this.state === "done" };
  }
}
