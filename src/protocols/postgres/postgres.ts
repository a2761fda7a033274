// PostgreSQL (frontend/backend protocol 3.0): framing of requests and answers, and the server's
// own ErrorResponse. A request is a simple Query, or an extended batch (Parse/Bind/Describe/
// Execute... up to Sync); its answer ends at ReadyForQuery. The startup message is a request
// too (match user, database; a fail there is FATAL and closes, as a real server refuses).
// SSLRequest and GSSENCRequest are refused by the agent itself ('N'), so an sslmode=prefer
// client continues in plaintext and request faults work; sslmode=require clients then fail
// to connect (use a tcp proxy for TLS). COPY data, NOTIFY and other async messages pass.
//
// A failed statement makes the SERVER fail too: it is replaced upstream by a DO block that
// raises the error with the same SQLSTATE and text, so inside a transaction the server really
// aborts it (25P02 until ROLLBACK). A failed COMMIT is replaced by ROLLBACK (nothing commits)
// and the client gets the error with ReadyForQuery idle, as when a real COMMIT fails.
import type { FailEffect, FrameCodec, ScannedRequest } from "../../requests/framed-stream.js";
import { FramedStream } from "../../requests/framed-stream.js";
import { LengthPrefixedReader, type FrameHeader } from "../shared/length-prefixed.js";
import { SqlRequest } from "../shared/sql-request.js";
import { RuleError, type ProtocolModule, type RequestInfo, type StreamContext } from "../../requests/protocol.js";

/** The server's own texts for well-known SQLSTATEs. */
export const PG_MESSAGES: Readonly<Record<string, string>> = {
  "40001": "could not serialize access due to concurrent update",
  "40P01": "deadlock detected",
  "53300": "sorry, too many clients already",
  "53200": "out of memory",
  "53100": "could not extend file: No space left on device",
  "55P03": "could not obtain lock on row in relation",
  "57014": "canceling statement due to statement timeout",
  "57P01": "terminating connection due to administrator command",
  "57P02": "terminating connection because of crash of another server process",
  "57P03": "the database system is starting up",
  "25006": "cannot execute statement in a read-only transaction",
  "28P01": "password authentication failed",
  "08006": "connection failure",
};
/** Codes a real server sends as FATAL and then closes the connection. */
const FATAL = new Set(["53300", "57P01", "57P02", "57P03", "28P01", "28000", "3D000", "08006"]);

export interface PgFail {
  code: string;
  message: string;
  fatal: boolean;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Longest message the agent frames before the stream counts as unreadable. */
const MAX_MESSAGE = 1 << 30;

/** A message header: a type byte (none before the startup message) and an Int32 length that counts itself. */
class MessageHeader implements FrameHeader {
  typed = false;
  size(): number {
    return this.typed ? 5 : 4;
  }
  tag(buf: Buffer, at: number): number {
    return this.typed ? buf[at]! : 0;
  }
  bodyLength(buf: Buffer, at: number): number | string {
    const len = buf.readInt32BE(this.typed ? at + 1 : at);
    return len < 4 || len > MAX_MESSAGE ? `a message length of ${len}` : len - 4;
  }
}

/** Incremental reader of length-prefixed messages (1 type byte + Int32 length, or untyped). */
class MessageReader extends LengthPrefixedReader {
  private readonly kind: MessageHeader;

  constructor(typed: boolean) {
    const kind = new MessageHeader();
    kind.typed = typed;
    super(kind);
    this.kind = kind;
  }

  /** True while the bytes fed so far end inside a message. */
  get inMessage(): boolean {
    return this.inFrame;
  }

  /** Switches to typed messages (after the startup message). */
  setTyped(): void {
    this.kind.typed = true;
  }
}

function cstrings(body: Buffer): string[] {
  return body.toString("utf8").split("\0");
}

class PostgresCodec implements FrameCodec<PgFail> {
  opaque: string | null = null;
  private readonly client = new MessageReader(false);
  private readonly server = new MessageReader(true);
  /** the startup message went by (before it, every chunk is decided: an SSLRequest is answered here) */
  started = false;
  private user: string | undefined;
  private database: string | undefined;
  /** the query of the current extended batch (its first Parse, or the named statement it binds) */
  private batchQuery: string | undefined;
  private readonly statements = new Map<string, string>();
  /** the server's transaction status from the last ReadyForQuery: I idle, T in a transaction, E failed */
  private txStatus = "I";
  /** answers the agent writes itself before the server is involved (the 'N' to an SSLRequest) */
  pendingAnswers: Buffer[] = [];

  scanRequests(chunk: Buffer): ScannedRequest[] {
    const out: ScannedRequest[] = [];
    this.client.feed(
      chunk,
      (t) => !this.started || t === 0x51 || t === 0x50 || t === 0x42,
      (type, end, body) => {
        if (!this.started) {
          const code = body !== null && body.length >= 4 ? body.readInt32BE(0) : 0;
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            const label = code === SSL_REQUEST ? "SSLRequest" : "GSSENCRequest";
            out.push({ end, info: { fields: { encryption: label }, label }, responses: 0 });
            return;
          }
          if (code === CANCEL_REQUEST) {
            this.opaque = "a CancelRequest connection passes untouched";
            return;
          }
          this.started = true;
          this.client.setTyped();
          const words = cstrings(body!.subarray(4));
          for (let i = 0; i + 1 < words.length; i += 2) {
            if (words[i] === "user") this.user = words[i + 1];
            else if (words[i] === "database") this.database = words[i + 1];
          }
          this.database ??= this.user;
          out.push({ end, info: { fields: { user: this.user, database: this.database, startup: "1" }, label: `startup user=${this.user ?? ""} database=${this.database ?? ""}` }, responses: 0 });
          return;
        }
        // (kept for skimRequests: a batch may be open when the rules go)
        this.batchOpen = type === 0x50 || type === 0x42 || type === 0x44 || type === 0x45 || type === 0x43 || type === 0x48 || (this.batchOpen && type !== 0x51 && type !== 0x53);
        switch (type) {
          case 0x51: {
            // Q
            const query = body!.toString("utf8", 0, Math.max(0, body!.length - 1));
            out.push({ end, info: this.info(query), responses: 1 });
            return;
          }
          case 0x50: {
            // P: name, query, ...
            const [name = "", query = ""] = cstrings(body!);
            if (name !== "") this.statements.set(name, query);
            this.batchQuery ??= query;
            return;
          }
          case 0x42: {
            // B: portal, statement, ...
            const [, statement = ""] = cstrings(body!);
            if (statement !== "" && this.batchQuery === undefined) this.batchQuery = this.statements.get(statement);
            return;
          }
          case 0x53: {
            // S (Sync): the batch ends; one ReadyForQuery answers it
            const query = this.batchQuery;
            this.batchQuery = undefined;
            out.push({ end, info: query !== undefined ? this.info(query) : null, responses: 1 });
            return;
          }
          case 0x44: // D describe
          case 0x45: // E execute
          case 0x43: // C close
          case 0x48: // H flush
            return; // part of the batch
          default:
            // d c f (COPY data), X (terminate), p (auth): pass, no answer of their own
            out.push({ end, info: null, responses: 0 });
        }
      },
    );
    if (this.client.bad !== null) this.opaque = `unreadable client bytes (${this.client.bad}); passing through`;
    return out;
  }

  /** what skimRequests counted in the current chunk */
  private skimmed = 0;
  /** an extended batch is open (a Parse, Bind... and no Sync yet): what skimRequests saw */
  private batchOpen = false;
  private readonly skimWant = (t: number): boolean => t === 0x50;
  private readonly onSkim = (type: number, _end: number, body: Buffer | null): void => {
    switch (type) {
      case 0x51: // Q
      case 0x53: // S
        this.skimmed++;
        this.batchOpen = false;
        this.batchQuery = undefined;
        return;
      case 0x50: {
        // P: a named statement is remembered (a later Bind of it, with rules, matches its query)
        this.batchOpen = true;
        const zero = body !== null ? body.indexOf(0) : -1;
        if (zero > 0) {
          const [name = "", query = ""] = cstrings(body!);
          this.statements.set(name, query);
        }
        return;
      }
      case 0x42:
      case 0x44:
      case 0x45:
      case 0x43:
      case 0x48:
        this.batchOpen = true;
        return;
      default:
        return;
    }
  };

  /** No rule (after the startup message): Queries and Syncs counted, no text read but statement names. */
  skimRequests(chunk: Buffer): number {
    this.skimmed = 0;
    this.client.feed(chunk, this.skimWant, this.onSkim);
    if (this.client.bad !== null) this.opaque = `unreadable client bytes (${this.client.bad}); passing through`;
    return this.skimmed;
  }

  get midRequest(): boolean {
    return this.batchOpen || this.client.inMessage;
  }

  private info(query: string): RequestInfo {
    return new SqlRequest(query, this.user, this.database);
  }

  scanResponses(chunk: Buffer): number[] {
    const ends: number[] = [];
    this.server.feed(
      chunk,
      (t) => t === 0x5a,
      (type, end, body) => {
        if (type === 0x5a) {
          this.txStatus = body !== null && body.length > 0 ? String.fromCharCode(body[0]!) : "I";
          ends.push(end);
        }
      },
    );
    if (this.server.bad !== null) this.opaque = `unreadable server bytes (${this.server.bad}); passing through`;
    return ends;
  }

  failEffect(fail: PgFail, info: RequestInfo): FailEffect {
    if (info.fields.encryption !== undefined) return { answer: Buffer.from("N") };
    const startup = info.fields.startup === "1";
    if (startup || fail.fatal) return { answer: errorResponse("FATAL", fail.code, fail.message), close: true };
    const query = info.fields.query ?? "";
    if (/^\s*(COMMIT|END)\b/i.test(query) && this.txStatus !== "I") {
      return { substitute: simpleQuery("ROLLBACK"), answer: Buffer.concat([errorResponse("ERROR", fail.code, fail.message), readyForQuery("I")]) };
    }
    const text = fail.message.replace(/'/g, "''");
    return { substitute: simpleQuery(`DO $netimpair$ BEGIN RAISE EXCEPTION USING ERRCODE = '${fail.code}', MESSAGE = '${text}'; END $netimpair$`) };
  }
}

function simpleQuery(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`, "utf8");
  const b = Buffer.alloc(5);
  b[0] = 0x51;
  b.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([b, body]);
}

function readyForQuery(status: string): Buffer {
  return Buffer.from([0x5a, 0, 0, 0, 5, status.charCodeAt(0)]);
}

/** An ErrorResponse as the server writes it: severity, code, message. */
export function errorResponse(severity: "ERROR" | "FATAL", code: string, message: string): Buffer {
  const fields = Buffer.from(`S${severity}\0V${severity}\0C${code}\0M${message}\0\0`, "utf8");
  const head = Buffer.alloc(5);
  head[0] = 0x45;
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

function compileFail(fail: Record<string, unknown>): PgFail {
  for (const k of Object.keys(fail)) {
    if (k !== "code" && k !== "message" && k !== "severity") throw new RuleError(`fail.${k}`, `a postgres fail takes code, message and severity, got field ${JSON.stringify(k)}`);
  }
  const code = fail.code ?? fail.error;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) {
    throw new RuleError("fail.code", `expected a SQLSTATE of five characters (digits and upper-case letters, e.g. "40001"), got ${JSON.stringify(code)}`);
  }
  const message = fail.message;
  if (message !== undefined && (typeof message !== "string" || message === "")) throw new RuleError("fail.message", `expected text, got ${JSON.stringify(message)}`);
  const severity = fail.severity;
  if (severity !== undefined && severity !== "ERROR" && severity !== "FATAL") throw new RuleError("fail.severity", `expected ERROR or FATAL, got ${JSON.stringify(severity)}`);
  return {
    code,
    message: (message as string | undefined) ?? PG_MESSAGES[code] ?? `injected failure (SQLSTATE ${code})`,
    fatal: severity === "FATAL" || (severity === undefined && FATAL.has(code)),
  };
}

class PostgresStream extends FramedStream<PgFail> {}

export const postgresProtocol: ProtocolModule<PgFail> = {
  name: "postgres",
  matchFields: { query: "regex", user: "glob", database: "glob" },
  actions: ["fail", "delay", "lose", "reset"],
  compileFail,
  open(ctx: StreamContext<PgFail>) {
    const codec = new PostgresCodec();
    const refuseTls: StreamContext<PgFail> = {
      ...ctx,
      // an SSLRequest is never a rule's: the agent answers 'N' itself
      decide: (info) =>
        info.fields.encryption !== undefined
          ? { action: "fail", fail: { code: "00000", message: "", fatal: false }, rule: "SSLRequest refused (plaintext)" }
          : // the startup message is decided (user, database) but is no request of its own to count
            ctx.decide(info, info.fields.startup === "1"),
      hasRules: () => !codec.started || ctx.hasRules(),
      injected: (outcome, rule, request) => {
        if (request !== "SSLRequest" && request !== "GSSENCRequest") ctx.injected(outcome, rule, request);
      },
    };
    return new PostgresStream(codec, refuseTls);
  },
};
