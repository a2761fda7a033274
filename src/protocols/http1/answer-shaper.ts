// Answer faults on HTTP/1.x (answer-rule.ts): what the client gets instead of the server's answer
// to one request. `truncate`: the head and the first SIZE bytes of the body (as on the wire), then
// the connection ends; `{events: N}` on a text/event-stream: up to the end of the Nth complete
// event; `malform`: the body replaced by a text, the head's framing made right (Content-Length,
// no Transfer-Encoding, no Content-Encoding); `throttle`: the body as it is, at a rate (the
// exchange paces it). The exchange hands a shaper the answer's final head, then its body's bytes.
import type { AnswerFault } from "../../requests/answer-rule.js";
import { headerValue, type ResponseHead } from "./head.js";
import { responseFraming } from "./body.js";

export interface BodyStep {
  /** bytes to send on (null: nothing) */
  send: Buffer | null;
  /** after them the connection ends (the answer is cut) */
  cut: boolean;
}

export interface AnswerShaper {
  /** the final head's bytes as the client gets them (and, for malform, the whole new body) */
  head(head: ResponseHead, bytes: Buffer, method: string): Buffer;
  /** one piece of the body as the server sent it (framing included) */
  body(bytes: Buffer): BodyStep;
  /** bytes a second the body trickles at; 0: not paced */
  readonly pace: number;
  /** how a cut answer ends its connection */
  readonly then: "close" | "reset";
  /** false when, its head seen, the fault does not apply to this answer (not an event stream, a 304...) */
  readonly acts?: boolean;
}

const PASS: BodyStep = { send: null, cut: false };

export function answerShaper(fault: AnswerFault): AnswerShaper {
  switch (fault.kind) {
    case "truncate":
      return new TruncateBytes(fault.bytes, fault.then);
    case "truncateEvents":
      return new TruncateEvents(fault.events);
    case "malform":
      return new Malform(Buffer.from(fault.text, "utf8"));
    case "throttle":
      return { head: (_h, bytes) => bytes, body: (bytes) => ({ send: bytes, cut: false }), pace: fault.bytesPerSecond, then: "close" };
    case "truncateMessages":
    case "truncateTc":
      // refused for http by the module's truncateBy; here for completeness: the answer as it is
      return { head: (_h, bytes) => bytes, body: (bytes) => ({ send: bytes, cut: false }), pace: 0, then: "close" };
  }
}

class TruncateBytes implements AnswerShaper {
  readonly pace = 0;
  constructor(
    private remaining: number,
    readonly then: "close" | "reset",
  ) {}

  head(_head: ResponseHead, bytes: Buffer): Buffer {
    return bytes;
  }

  body(bytes: Buffer): BodyStep {
    if (bytes.length <= this.remaining) {
      this.remaining -= bytes.length;
      return { send: bytes, cut: false };
    }
    const send = this.remaining > 0 ? bytes.subarray(0, this.remaining) : null;
    this.remaining = 0;
    return { send, cut: true };
  }
}

/**
 * Counts the events of a text/event-stream (WHATWG HTML 9.2.6: an event is dispatched at a blank
 * line when a data field came since the last one; lines end in CRLF, LF or CR) in the body's
 * payload, read through the chunked framing when there is one, and cuts after the Nth.
 */
class TruncateEvents implements AnswerShaper {
  readonly pace = 0;
  readonly then = "close";
  private active = false;
  private chunked: ChunkedPayload | null = null;

  get acts(): boolean {
    return this.active;
  }

  private events = 0;
  // the event-stream scanner
  private lineStart = true;
  private lastCR = false;
  /** the first bytes of the current line, to see whether it is a data field */
  private prefix = "";
  private hasData = false;

  constructor(private readonly limit: number) {}

  head(head: ResponseHead, bytes: Buffer, method: string): Buffer {
    const type = (headerValue(head.headers, "content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    this.active = type === "text/event-stream";
    const framing = responseFraming(head, method);
    if (typeof framing !== "string" && framing.kind === "chunked") this.chunked = new ChunkedPayload();
    return bytes;
  }

  body(bytes: Buffer): BodyStep {
    if (!this.active) return { send: bytes, cut: false };
    if (this.events >= this.limit) return { send: null, cut: true };
    if (this.chunked === null) {
      const end = this.scan(bytes, 0, bytes.length);
      return end < 0 ? { send: bytes, cut: false } : { send: bytes.subarray(0, end), cut: true };
    }
    let cutAt = -1;
    this.chunked.read(bytes, (from, to) => {
      if (cutAt >= 0) return;
      const end = this.scan(bytes, from, to);
      if (end >= 0) cutAt = end;
    });
    return cutAt < 0 ? { send: bytes, cut: false } : { send: bytes.subarray(0, cutAt), cut: true };
  }

  /** Scans payload bytes [from, to); the index just past the Nth event's blank line, else -1. */
  private scan(buf: Buffer, from: number, to: number): number {
    for (let i = from; i < to; i++) {
      const b = buf[i]!;
      if (b === 10 && this.lastCR) {
        this.lastCR = false;
        continue;
      }
      if (b === 10 || b === 13) {
        this.lastCR = b === 13;
        if (this.lineStart) {
          // a blank line: an event when a data field came
          if (this.hasData) {
            this.events++;
            this.hasData = false;
            if (this.events >= this.limit) return b === 13 && buf[i + 1] === 10 && i + 1 < to ? i + 2 : i + 1;
          }
        } else if (this.prefix === "data" || this.prefix.startsWith("data:")) this.hasData = true;
        this.lineStart = true;
        this.prefix = "";
        continue;
      }
      this.lastCR = false;
      this.lineStart = false;
      if (this.prefix.length < 5) this.prefix += String.fromCharCode(b);
    }
    return -1;
  }
}

/** Walks a chunked body's wire bytes, reporting the payload's ranges in them (the splitter checked the framing). */
class ChunkedPayload {
  private state: "size" | "data" | "dataEnd" | "trailer" = "size";
  private size = 0;
  private inExtension = false;
  private remaining = 0;

  read(buf: Buffer, payload: (from: number, to: number) => void): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case "size": {
          const b = buf[i++]!;
          if (b === 10) {
            this.remaining = this.size;
            this.size = 0;
            this.inExtension = false;
            this.state = this.remaining === 0 ? "trailer" : "data";
          } else if (b === 59 /* ; */ || b === 32 || b === 9 || b === 13) this.inExtension = true;
          else if (!this.inExtension) this.size = this.size * 16 + parseInt(String.fromCharCode(b), 16);
          break;
        }
        case "data": {
          const n = Math.min(buf.length - i, this.remaining);
          payload(i, i + n);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = "dataEnd";
          break;
        }
        case "dataEnd":
          if (buf[i++] === 10) this.state = "size";
          break;
        case "trailer":
          i = buf.length;
          break;
      }
    }
  }
}

/** Head fields the replaced body makes wrong. */
const FRAMING_FIELDS = new Set(["content-length", "transfer-encoding", "content-encoding", "content-md5", "digest", "content-digest"]);

class Malform implements AnswerShaper {
  readonly pace = 0;
  readonly then = "close";
  private active = false;

  constructor(private readonly text: Buffer) {}

  get acts(): boolean {
    return this.active;
  }

  head(head: ResponseHead, bytes: Buffer, method: string): Buffer {
    // no body to replace (204, 304; a 1xx never comes here)
    if (head.status === 204 || head.status === 304) return bytes;
    this.active = true;
    const framing = responseFraming(head, method);
    const untilClose = typeof framing !== "string" && framing.kind === "close";
    const lines = bytes.toString("latin1").split(/\r?\n/);
    const kept: string[] = [lines[0]!];
    for (const line of lines.slice(1)) {
      if (line === "") continue;
      const name = line.slice(0, line.indexOf(":")).trim().toLowerCase();
      if (FRAMING_FIELDS.has(name)) continue;
      // a body that ran until the server closed: the server closes after it still
      if (untilClose && name === "connection") continue;
      kept.push(line);
    }
    kept.push(`content-length: ${this.text.length}`);
    if (untilClose) kept.push("connection: close");
    const newHead = Buffer.from(kept.join("\r\n") + "\r\n\r\n", "latin1");
    return method === "HEAD" ? newHead : Buffer.concat([newHead, this.text]);
  }

  body(bytes: Buffer): BodyStep {
    return this.active ? PASS : { send: bytes, cut: false };
  }
}
