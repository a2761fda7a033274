// Redis (RESP2 and RESP3): framing of commands and replies, and Redis's own error replies.
// Requests are arrays of bulk strings (or inline commands); every command gets one reply, in
// order; RESP3 pushes (>) and attributes (|) are not replies. SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE
// and MONITOR turn the connection into a stream of pushes: from then on it passes untouched.
// Inside MULTI a failed command is replaced upstream by an unknown command, so Redis itself
// flags the transaction and EXEC answers EXECABORT, as with a real error on a queued command.
import type { FailEffect, FrameCodec, ScannedRequest } from "../../requests/framed-stream.js";
import { FramedStream } from "../../requests/framed-stream.js";
import { RuleError, type ProtocolModule, type RequestInfo, type StreamContext } from "../../requests/protocol.js";

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

/** Bytes of a command's name kept in place (longer names are never special, and are read as text only with rules). */
const NAME_MAX = 32;

/** Commands the codec follows with or without rules (push mode, MULTI state), by their bytes. */
const Special = {
  None: 0,
  Push: 1,
  Multi: 2,
  /** EXEC, DISCARD, RESET: the transaction ends */
  EndMulti: 3,
} as const;
type Special = (typeof Special)[keyof typeof Special];

/**
 * Incremental RESP2/RESP3 reader: counts whole top-level values across chunks. A request reader
 * keeps the command name's bytes in place (no string) and, when asked (`wantKey`, only while
 * rules exist), the first argument as text.
 */
class RespReader {
  /** remaining children of each open aggregate */
  private readonly stack: number[] = [];
  private line: Buffer[] = [];
  private lineBytes = 0;
  /** bytes of a bulk string (and its CRLF) still to skip */
  private skip = 0;
  /** top-level value's type byte */
  private top = 0;
  /** elements of the top-level array finished so far (0: its command name is being read) */
  private arg = 0;
  /** what the bulk string being skipped is kept for */
  private keeping: "none" | "name" | "key" = "none";
  /** the command name's first bytes, and its whole length (-1: none) */
  readonly name = Buffer.alloc(NAME_MAX);
  nameLength = -1;
  private nameKept = 0;
  /** a long name's bytes, kept only when wantKey is set (a rule may match it) */
  private longName: Buffer[] = [];
  /** the first argument as text (read only while wantKey is set) */
  key: string | undefined;
  private keyParts: Buffer[] = [];
  private keyLeft = 0;
  /** set by the codec before each feed: read the key (and long names) as text */
  wantKey = false;
  bad: string | null = null;

  constructor(private readonly requests: boolean) {}

  /** True while the bytes fed so far end inside a top-level value. */
  get midValue(): boolean {
    return this.stack.length > 0 || this.skip > 0 || this.lineBytes > 0;
  }

  /** Feeds bytes; calls done(offset, type) for each top-level value ending at offset. */
  feed(chunk: Buffer, done: (end: number, type: number) => void, inline?: (line: string, end: number) => void): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n && this.bad === null) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - pos);
        if (this.keeping !== "none") this.keep(chunk, pos, take);
        pos += take;
        this.skip -= take;
        if (this.skip === 0) this.element(pos, done);
        continue;
      }
      const nl = lineEnd(chunk, pos);
      if (nl < 0) {
        this.lineBytes += n - pos;
        // a partial line is copied: the chunk may live in a buffer that is reused
        if (this.lineBytes > MAX_LINE) this.bad = "a RESP line longer than 64 KiB";
        else this.line.push(Buffer.from(chunk.subarray(pos)));
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

  /** Keeps `take` bytes at chunk[pos] of the bulk string being skipped (its CRLF is cut off). */
  private keep(chunk: Buffer, pos: number, take: number): void {
    const data = Math.max(0, Math.min(take, this.skip - 2));
    if (data === 0) return;
    if (this.keeping === "name") {
      const end = pos + Math.min(NAME_MAX - this.nameKept, data);
      // a few bytes: copied by hand (Buffer#copy validates its arguments on every call)
      for (let i = pos; i < end; i++) this.name[this.nameKept++] = chunk[i]!;
      if (this.wantKey && this.nameLength > NAME_MAX) this.longName.push(Buffer.from(chunk.subarray(pos, pos + data)));
    } else if (this.keyLeft > 0) {
      const c = Math.min(data, this.keyLeft);
      this.keyLeft -= c;
      // the whole key in this chunk (the usual case): read as text at once, no copy
      if (this.keyParts.length === 0 && this.keyLeft === 0) this.key = chunk.toString("latin1", pos, pos + c);
      else this.keyParts.push(Buffer.from(chunk.subarray(pos, pos + c)));
    }
  }

  /** The command name as upper-case text (only called while rules exist). */
  commandName(): string {
    if (this.nameLength < 0) return "";
    if (this.nameLength > NAME_MAX && this.longName.length > 0) return Buffer.concat(this.longName).toString("latin1").toUpperCase();
    // a pipeline repeats its commands: the text of the last name is kept and reused
    const n = this.nameKept;
    const last = this.lastName;
    if (n === this.lastNameLength) {
      let same = true;
      for (let i = 0; i < n && same; i++) same = this.name[i] === last[i];
      if (same) return this.lastNameText;
    }
    this.name.copy(last, 0, 0, n);
    this.lastNameLength = n;
    this.lastNameText = this.name.toString("latin1", 0, n).toUpperCase();
    return this.lastNameText;
  }
  private readonly lastName = Buffer.alloc(NAME_MAX);
  private lastNameLength = -1;
  private lastNameText = "";

  /** Which special command the name is, read from its bytes (no string). */
  special(): Special {
    const len = this.nameLength;
    if (len < 4 || len > 10) return Special.None;
    const b = this.name;
    switch (len) {
      case 4:
        return is(b, "EXEC") ? Special.EndMulti : Special.None;
      case 5:
        return is(b, "MULTI") ? Special.Multi : is(b, "RESET") ? Special.EndMulti : Special.None;
      case 7:
        return is(b, "MONITOR") ? Special.Push : is(b, "DISCARD") ? Special.EndMulti : Special.None;
      case 9:
        return is(b, "SUBSCRIBE") ? Special.Push : Special.None;
      case 10:
        return is(b, "PSUBSCRIBE") || is(b, "SSUBSCRIBE") ? Special.Push : Special.None;
      default:
        return Special.None;
    }
  }

  /** One header line: line[from, to) (with its LF); `end` is its end offset in the chunk fed. */
  private header(line: Buffer, from: number, to: number, end: number, done: (end: number, type: number) => void, inline?: (line: string, end: number) => void): void {
    const type = line[from]!;
    const len = to - from >= 2 && line[to - 2] === CR ? to - 2 : to - 1;
    if (this.stack.length === 0) {
      this.top = type;
      if (this.requests) {
        this.arg = 0;
        this.nameLength = -1;
        this.nameKept = 0;
        if (this.longName.length > 0) this.longName = [];
        this.key = undefined;
      }
    }
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
        const l = this.number(line, from, len);
        if (this.bad) return;
        this.keeping = "none";
        if (this.requests && this.stack.length === 1) {
          if (this.arg === 0) {
            this.nameLength = Math.max(l, 0);
            this.keeping = "name";
          } else if (this.arg === 1 && this.wantKey && l >= 0) {
            this.keeping = "key";
            this.keyParts = [];
            this.keyLeft = Math.min(l, MAX_CAPTURE);
          }
        }
        if (l < 0) return this.element(end, done);
        this.skip = l + 2;
        return;
      }
      case 0x2a: // * array
      case 0x7e: // ~ set
      case 0x3e: // > push
      case 0x25: // % map
      case 0x7c: {
        // | attribute
        let count = this.number(line, from, len);
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

  /** The length in a header line, its digits read in place (no string, no regex). */
  private number(line: Buffer, from: number, len: number): number {
    let i = from + 1;
    let neg = false;
    if (line[i] === 0x2d) {
      neg = true;
      i++;
    }
    let v = 0;
    let ok = i < len;
    for (; ok && i < len; i++) {
      const d = line[i]! - 48;
      if (d < 0 || d > 9 || v > 1e12) ok = false;
      else v = v * 10 + d;
    }
    if (!ok) {
      this.bad = `a RESP length that is not a number: ${JSON.stringify(line.toString("latin1", from + 1, Math.min(len, from + 41)))}`;
      return 0;
    }
    return neg ? -v : v;
  }

  /** One element finished at `end`: count it into its aggregates. */
  private element(end: number, done: (end: number, type: number) => void): void {
    if (this.keeping === "key" && this.keyParts.length > 0) {
      const parts = this.keyParts;
      this.key = parts.length === 1 ? parts[0]!.toString("latin1") : Buffer.concat(parts).toString("latin1");
      this.keyParts = [];
    } else if (this.keeping === "key" && this.key === undefined) this.key = "";
    this.keeping = "none";
    while (this.stack.length > 0) {
      const i = this.stack.length - 1;
      if (i === 0) this.arg++;
      this.stack[i]!--;
      if (this.stack[i]! > 0) return;
      this.stack.pop();
    }
    done(end, this.top);
  }
}

/**
 * Offset of the next LF at or after `from`, -1 if none. RESP header lines are a few bytes: a
 * loop here beats Buffer#indexOf, whose native call costs more than the search (five lines a
 * command); a long line falls back to it.
 */
function lineEnd(buf: Buffer, from: number): number {
  const stop = Math.min(buf.length, from + 32);
  for (let i = from; i < stop; i++) if (buf[i] === LF) return i;
  return stop < buf.length ? buf.indexOf(LF, stop) : -1;
}

/** True when buf starts with `word` (ASCII letters, compared case-insensitively). */
function is(buf: Buffer, word: string): boolean {
  for (let i = 0; i < word.length; i++) if ((buf[i]! & 0xdf) !== word.charCodeAt(i)) return false;
  return true;
}

/** What rules see of one command; the label is made only when an event needs it. */
class RedisRequest implements RequestInfo {
  readonly fields: { command: string; key: string | undefined };
  constructor(command: string, key: string | undefined) {
    this.fields = { command, key };
  }
  get label(): string {
    const { command, key } = this.fields;
    return key === undefined ? command : `${command} ${key}`;
  }
}

const SETUP_COMMANDS = new Set(["HELLO", "AUTH", "CLIENT", "SELECT", "READONLY"]);

class RedisCodec implements FrameCodec<RedisFail> {
  opaque: string | null = null;
  opaqueFrom = 0;
  private readonly requests = new RespReader(true);
  private readonly replies = new RespReader(false);
  /** MULTI state as the server sees it (requests that went upstream as they came) */
  private inMulti = false;
  /** what skimRequests counted in the current chunk */
  private skimmed = 0;
  private readonly onSkim = (): void => {
    this.skimmed++;
    this.follow(this.requests.special());
  };
  private readonly onSkimInline = (line: string): void => {
    const words = splitInline(line);
    if (words.length === 0) return; // an empty inline line gets no reply
    this.skimmed++;
    this.followName(words[0]!.toUpperCase());
  };

  get midRequest(): boolean {
    return this.requests.midValue;
  }

  skimRequests(chunk: Buffer): number {
    this.skimmed = 0;
    this.requests.wantKey = false;
    this.requests.feed(chunk, this.onSkim, this.onSkimInline);
    if (this.requests.bad !== null) this.opaque = `unreadable client bytes (${this.requests.bad}); passing through`;
    return this.skimmed;
  }

  scanRequests(chunk: Buffer): ScannedRequest[] {
    const out: ScannedRequest[] = [];
    const reader = this.requests;
    reader.wantKey = true;
    // a push command ends the requests rules see: it and what follows it pass; the commands
    // before it in the same chunk are requests as any other (opaqueFrom marks where it starts)
    const switchAt = (name: string): void => {
      this.opaqueFrom = out.length > 0 ? out[out.length - 1]!.end : 0;
      this.pushMode(name);
    };
    reader.feed(
      chunk,
      (end) => {
        if (this.opaque !== null) return;
        if (reader.special() === Special.Push) return switchAt(reader.commandName());
        out.push(this.request(reader.commandName(), reader.key, end));
      },
      (line, end) => {
        if (this.opaque !== null) return;
        const words = splitInline(line);
        if (words.length === 0) {
          out.push({ end, info: null, responses: 0 });
          return;
        }
        const name = words[0]!.toUpperCase();
        if (PUSH_MODE.has(name)) return switchAt(name);
        out.push(this.request(name, words[1], end));
      },
    );
    if (reader.bad !== null && this.opaque === null) this.opaque = `unreadable client bytes (${reader.bad}); passing through`;
    return out;
  }

  private pushMode(command: string): void {
    this.opaque = `${command}: a push stream (pub/sub, monitor) passes untouched`;
  }

  private request(command: string, first: string | undefined, end: number): ScannedRequest {
    const key = NO_KEY.has(command) ? undefined : first;
    return { end, info: new RedisRequest(command, key), responses: 1 };
  }

  /** A command that went upstream as it came, seen without rules. */
  private follow(special: Special): void {
    if (special === Special.None) return;
    if (special === Special.Push) this.pushMode(this.requests.name.toString("latin1", 0, Math.min(this.requests.nameLength, NAME_MAX)).toUpperCase());
    else this.inMulti = special === Special.Multi;
  }

  private followName(command: string): void {
    if (PUSH_MODE.has(command)) this.pushMode(command);
    else if (command === "MULTI") this.inMulti = true;
    else if (command === "EXEC" || command === "DISCARD" || command === "RESET") this.inMulti = false;
  }

  private readonly onReply = (end: number, type: number): void => {
    if (type !== 0x3e && type !== 0x7c) this.ends.push(end); // pushes and attributes are not replies
  };
  private ends: number[] = [];

  /** Commands a client sends on each new connection before its own (never taken for retries). */
  setup(info: RequestInfo): boolean {
    return SETUP_COMMANDS.has(info.fields.command ?? "");
  }

  /** An error reply ("-ERR ...") is a failed answer. */
  answerFailed(first: Buffer): boolean {
    return first[0] === 0x2d;
  }

  scanResponses(chunk: Buffer): number[] {
    this.ends = [];
    this.replies.feed(chunk, this.onReply);
    if (this.replies.bad !== null) this.opaque = `unreadable server bytes (${this.replies.bad}); passing through`;
    return this.ends;
  }

  forwarded(info: RequestInfo): void {
    this.followName(info.fields.command ?? "");
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

function splitInline(line: string): string[] {
  return line.trim().split(/\s+/).filter((w) => w !== "");
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
