// Redis (RESP2 and RESP3): framing of commands and replies, and Redis's own error replies.
// Requests are arrays of bulk strings (or inline commands); every command gets one reply, in
// order; RESP3 pushes (>) and attributes (|) are not replies. SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE
// and MONITOR turn the connection into a stream of pushes: from then on it passes untouched.
// Inside MULTI a failed command is replaced upstream by an unknown command, so Redis itself
// flags the transaction and EXEC answers EXECABORT, as with a real error on a queued command.
import type { FailEffect, FrameCodec, ScannedRequest } from "../requests/framed-stream.js";
import { FramedStream } from "../requests/framed-stream.js";
import { RuleError, type ProtocolModule, type RequestInfo, type StreamContext } from "../requests/protocol.js";

/** Redis's own texts for its well-known error prefixes. */
export const REDIS_ERRORS: Readonly<Record<string, string>> = {
  OOM: "OOM command not allowed when used memory > 'maxmemory'.",
  READONLY: "READONLY You can't write against a read only replica.",
  LOADING: "LOADING Redis is loading the dataset in memory",
  BUSY: "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
  MASTERDOWN: "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
  TRYAGAIN: "TRYAGAIN Multiple keys request during rehashing of slot",
  CLUSTERDOWN: "CLUSTERDOWN The cluster is down",
  NOSCRIPT: "NOSCRIPT No matching script. Please use EVAL.",
  MISCONF:
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.",
  NOAUTH: "NOAUTH Authentication required.",
  ERR: "ERR injected by netimpair",
};

/** A compiled redis `fail`: the whole error line, without "-" and CRLF. */
export interface RedisFail {
  text: string;
}

/** Commands whose first argument is not a key (match.key then sees nothing). */
const NO_KEY = new Set(["PING", "ECHO", "HELLO", "AUTH", "SELECT", "MULTI", "EXEC", "DISCARD", "INFO", "CLIENT", "CONFIG", "SCRIPT", "EVAL", "EVALSHA", "FUNCTION", "FCALL", "PUBLISH", "COMMAND", "DBSIZE", "FLUSHDB", "FLUSHALL", "SCAN", "QUIT", "RESET", "WAIT", "TIME", "SAVE", "BGSAVE", "LASTSAVE", "ROLE", "SLOWLOG", "MEMORY", "LATENCY", "CLUSTER", "READONLY", "READWRITE", "SWAPDB", "DEBUG", "OBJECT", "ACL"]);
const PUSH_MODE = new Set(["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR"]);
/** Longest RESP line (a header, an inline command) before the stream counts as unreadable. */
const MAX_LINE = 64 * 1024;
/** Bytes of a command's name and first key kept for matching. */
const MAX_CAPTURE = 4096;

const CR = 13;
const LF = 10;

/** Incremental RESP2/RESP3 reader: counts whole top-level values across chunks. */
class RespReader {
  /** remaining children of each open aggregate; attribute maps are marked by negative kinds */
  private readonly stack: number[] = [];
  private line: Buffer[] = [];
  private lineBytes = 0;
  /** bytes of a bulk string (and its CRLF) still to skip */
  private skip = 0;
  /** top-level value's type byte */
  private top = 0;
  /** when capturing (requests): the bulk strings of the current top-level array */
  captured: string[] = [];
  private capturing = false;
  private captureStart = -1;
  private captureParts: Buffer[] = [];
  private captureLeft = 0;
  bad: string | null = null;

  constructor(private readonly capture: boolean) {}

  /** Feeds bytes; calls done(offset, type) for each top-level value ending at offset. */
  feed(chunk: Buffer, done: (end: number, type: number) => void, inline?: (line: string, end: number) => void): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n && this.bad === null) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - pos);
        if (this.capturing && this.captureLeft > 0) {
          const c = Math.min(take, this.captureLeft);
          this.captureParts.push(chunk.subarray(pos, pos + c));
          this.captureLeft -= c;
        }
        pos += take;
        this.skip -= take;
        if (this.skip === 0) {
          if (this.capturing) {
            const parts = this.captureParts;
            this.captured.push(parts.length === 1 ? parts[0]!.toString("latin1") : Buffer.concat(parts).toString("latin1"));
            this.captureParts = [];
          }
          this.element(pos, done);
        }
        continue;
      }
      const nl = chunk.indexOf(LF, pos);
      if (nl < 0) {
        this.lineBytes += n - pos;
        if (this.lineBytes > MAX_LINE) this.bad = "a RESP line longer than 64 KiB";
        else this.line.push(chunk.subarray(pos));
        return;
      }
      const start = pos;
      pos = nl + 1;
      if (this.lineBytes > 0) {
        const lineBuf = Buffer.concat([...this.line, chunk.subarray(start, pos)]);
        this.line = [];
        this.lineBytes = 0;
        this.header(lineBuf, 0, lineBuf.length, pos, done, inline);
      } else {
        // the common case: the line is read in place, no slice
        this.header(chunk, start, pos, pos, done, inline);
      }
    }
  }

  /** One header line: line[from, to) (with its LF); `end` is its end offset in the chunk fed. */
  private header(line: Buffer, from: number, to: number, end: number, done: (end: number, type: number) => void, inline?: (line: string, end: number) => void): void {
    const type = line[from]!;
    const len = to - from >= 2 && line[to - 2] === CR ? to - 2 : to - 1;
    if (this.stack.length === 0) {
      this.top = type;
      if (this.capture) this.captured = [];
    }
    const num = (): number => {
      // digits read in place (this runs for every header: no string, no regex)
      let i = from + 1;
      let neg = false;
      if (line[i] === 0x2d) {
        neg = true;
        i++;
      }
      let v = 0;
      if (i >= len) i = -1;
      for (; i >= 0 && i < len; i++) {
        const d = line[i]! - 48;
        if (d < 0 || d > 9 || v > 1e12) {
          i = -1;
          break;
        }
        v = v * 10 + d;
      }
      if (i < 0) {
        this.bad = `a RESP length that is not a number: ${JSON.stringify(line.toString("latin1", from + 1, Math.min(len, from + 41)))}`;
        return 0;
      }
      return neg ? -v : v;
    };
    switch (type) {
      case 0x2b: // + simple string
      case 0x2d: // - error
      case 0x3a: // : integer
      case 0x5f: // _ null
      case 0x2c: // , double
      case 0x23: // # boolean
      case 0x28: // ( big number
        this.element(end, done);
        return;
      case 0x24: // $ bulk string
      case 0x21: // ! bulk error
      case 0x3d: {
        // = verbatim string
        const l = num();
        if (this.bad) return;
        if (l < 0) return this.element(end, done);
        if (this.capture && this.stack.length === 1 && this.captured.length < 2) {
          this.capturing = true;
          this.captureLeft = Math.min(l, MAX_CAPTURE);
          this.captureParts = [];
        } else this.capturing = false;
        this.skip = l + 2;
        return;
      }
      case 0x2a: // * array
      case 0x7e: // ~ set
      case 0x3e: // > push
      case 0x25: // % map
      case 0x7c: {
        // | attribute
        let count = num();
        if (this.bad) return;
        if (type === 0x25 || type === 0x7c) count *= 2;
        if (count <= 0) return this.element(end, done);
        this.stack.push(count);
        return;
      }
      default:
        if (this.stack.length === 0 && inline !== undefined) {
          // an inline command: a line of words
          inline(line.toString("latin1", from, len), end);
          return;
        }
        this.bad = `a RESP type byte it does not know: 0x${type.toString(16)}`;
    }
  }

  /** One element finished at `end`: count it into its aggregates. */
  private element(end: number, done: (end: number, type: number) => void): void {
    this.capturing = false;
    while (this.stack.length > 0) {
      const i = this.stack.length - 1;
      this.stack[i]!--;
      if (this.stack[i]! > 0) return;
      this.stack.pop();
    }
    done(end, this.top);
  }
}

class RedisCodec implements FrameCodec<RedisFail> {
  opaque: string | null = null;
  private readonly requests = new RespReader(true);
  private readonly replies = new RespReader(false);
  /** MULTI state as the server sees it (requests that went upstream as they came) */
  private inMulti = false;

  scanRequests(chunk: Buffer): ScannedRequest[] {
    const out: ScannedRequest[] = [];
    this.requests.feed(
      chunk,
      (end) => {
        const words = this.requests.captured;
        out.push(this.request(words, end));
      },
      (line, end) => {
        const words = line.trim().split(/\s+/).filter((w) => w !== "");
        // an empty inline line gets no reply
        out.push(words.length === 0 ? { end, info: null, responses: 0 } : this.request(words, end));
      },
    );
    if (this.requests.bad !== null) this.opaque = `unreadable client bytes (${this.requests.bad}); passing through`;
    return out;
  }

  private request(words: string[], end: number): ScannedRequest {
    const command = (words[0] ?? "").toUpperCase();
    if (PUSH_MODE.has(command)) this.opaque = `${command}: a push stream (pub/sub, monitor) passes untouched`;
    const key = NO_KEY.has(command) ? undefined : words[1];
    const info: RequestInfo = { fields: { command, key }, label: key === undefined ? command : `${command} ${key}` };
    return { end, info, responses: 1 };
  }

  scanResponses(chunk: Buffer): number[] {
    const ends: number[] = [];
    this.replies.feed(chunk, (end, type) => {
      if (type !== 0x3e && type !== 0x7c) ends.push(end); // pushes and attributes are not replies
    });
    if (this.replies.bad !== null) this.opaque = `unreadable server bytes (${this.replies.bad}); passing through`;
    return ends;
  }

  forwarded(info: RequestInfo): void {
    const c = info.fields.command;
    if (c === "MULTI") this.inMulti = true;
    else if (c === "EXEC" || c === "DISCARD" || c === "RESET") this.inMulti = false;
  }

  failEffect(fail: RedisFail, info: RequestInfo): FailEffect {
    const answer = Buffer.from(`-${fail.text}\r\n`, "latin1");
    const c = info.fields.command;
    if (!this.inMulti || c === "MULTI") return { answer };
    if (c === "EXEC") {
      // the transaction ends at the server as a failed EXEC ends it: discarded
      this.inMulti = false;
      return { substitute: command("DISCARD"), answer };
    }
    if (c === "DISCARD") {
      this.inMulti = false;
      return { substitute: command("DISCARD"), answer };
    }
    // an unknown command inside MULTI flags the transaction: EXEC then answers EXECABORT
    return { substitute: command("NETIMPAIR.INJECTED-ERROR"), answer };
  }
}

function command(...words: string[]): Buffer {
  return Buffer.from(`*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join("")}`, "latin1");
}

function compileFail(fail: Record<string, unknown>): RedisFail {
  const keys = Object.keys(fail);
  const extra = keys.find((k) => k !== "error" && k !== "message");
  if (extra !== undefined) throw new RuleError(`fail.${extra}`, `a redis fail takes error (and message), got field ${JSON.stringify(extra)}`);
  const error = fail.error;
  if (typeof error !== "string" || error.trim() === "") {
    throw new RuleError("fail.error", `expected a Redis error (${Object.keys(REDIS_ERRORS).join(", ")}) or a whole reply text, got ${JSON.stringify(error)}`);
  }
  const message = fail.message;
  if (message !== undefined && typeof message !== "string") throw new RuleError("fail.message", `expected text, got ${JSON.stringify(message)}`);
  const text = error.trim();
  if (/[\r\n]/.test(text) || (typeof message === "string" && /[\r\n]/.test(message))) throw new RuleError("fail.error", "a Redis error reply is one line (no CR or LF)");
  const word = text.split(" ")[0]!;
  if (!/^[A-Z][A-Z0-9_-]*$/.test(word)) throw new RuleError("fail.error", `a Redis error starts with an upper-case prefix (OOM, READONLY, ERR...), got ${JSON.stringify(text)}`);
  if (typeof message === "string") return { text: `${word} ${message}` };
  if (text.includes(" ")) return { text };
  const known = REDIS_ERRORS[word];
  if (known === undefined) throw new RuleError("fail.error", `no known text for Redis error ${JSON.stringify(word)} (known: ${Object.keys(REDIS_ERRORS).join(", ")}); give the whole reply text or a message`);
  return { text: known };
}

export const redisProtocol: ProtocolModule<RedisFail> = {
  name: "redis",
  matchFields: { command: "names", key: "glob" },
  actions: ["fail", "delay", "lose", "reset"],
  compileFail,
  open(ctx: StreamContext<RedisFail>) {
    return new FramedStream(new RedisCodec(), ctx);
  },
};
