// MySQL / MariaDB (client/server protocol): framing of commands and the server's ERR packet.
// The handshake passes untouched (without `tls` on the proxy, a TLS switch - CLIENT_SSL in the
// handshake response - makes the connection opaque: request faults off for it; with `tls`,
// tls-switch.ts terminates TLS and the decrypted connection comes here). In the command phase every command but
// COM_QUIT, COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA gets one answer; MySQL clients wait for
// an answer before the next command (no pipelining), so the answer's first packet marks it: that
// is when the server has done the work (a lost response resets the connection there).
// A deadlock (1213) rolls the whole transaction back at the SERVER, as InnoDB does: the
// statement is replaced upstream by ROLLBACK, whose OK is swallowed, and the client gets the ERR.
// A lock wait timeout (1205) and other errors fail only the statement (nothing goes upstream).
import type { FailEffect, FrameCodec, ScannedRequest } from "../../requests/framed-stream.js";
import { FramedStream } from "../../requests/framed-stream.js";
import { LengthPrefixedReader, type FrameHeader } from "../shared/length-prefixed.js";
import { SqlRequest } from "../shared/sql-request.js";
import { RuleError, type ProtocolModule, type RequestInfo, type StreamContext } from "../../requests/protocol.js";

/** The server's SQLSTATE and message for well-known error numbers. */
export const MYSQL_ERRORS: Readonly<Record<number, [string, string]>> = {
  1213: ["40001", "Deadlock found when trying to get lock; try restarting transaction"],
  1205: ["HY000", "Lock wait timeout exceeded; try restarting transaction"],
  1040: ["08004", "Too many connections"],
  1053: ["08S01", "Server shutdown in progress"],
  1290: ["HY000", "The MySQL server is running with the --read-only option so it cannot execute this statement"],
  1317: ["70100", "Query execution was interrupted"],
  3024: ["HY000", "Query execution was interrupted, maximum statement execution time exceeded"],
  1114: ["HY000", "The table is full"],
  1021: ["HY000", "Disk full; waiting for someone to free some space..."],
};

export interface MysqlFail {
  errno: number;
  sqlstate: string;
  message: string;
  /** the whole transaction is rolled back at the server (1213) */
  rollback: boolean;
}

const COM_QUIT = 0x01;
const COM_INIT_DB = 0x02;
const COM_QUERY = 0x03;
const COM_STMT_PREPARE = 0x16;
const COM_STMT_EXECUTE = 0x17;
const COM_STMT_SEND_LONG_DATA = 0x18;
const COM_STMT_CLOSE = 0x19;
const CLIENT_CONNECT_WITH_DB = 0x8;
const CLIENT_SSL = 0x800;
const CLIENT_PLUGIN_AUTH_LENENC = 0x200000;
const CLIENT_SECURE_CONNECTION = 0x8000;
const MAX_KEPT = 1 << 20;

/** A packet header: a 3-byte little-endian length, then the sequence id (the tag). */
const PACKET_HEADER: FrameHeader = {
  size: () => 4,
  tag: (buf, at) => buf[at + 3]!,
  bodyLength: (buf, at) => buf.readUIntLE(at, 3),
};

const ALWAYS = (): boolean => true;
const NEVER = (): boolean => false;

/** Incremental packet reader: bodies longer than MAX_KEPT are framed, never kept. */
class PacketReader extends LengthPrefixedReader {
  constructor() {
    super(PACKET_HEADER, MAX_KEPT);
  }

  /** True while the bytes fed so far end inside a packet. */
  get inPacket(): boolean {
    return this.inFrame;
  }
}

class MysqlCodec implements FrameCodec<MysqlFail> {
  opaque: string | null = null;
  private readonly client = new PacketReader();
  private readonly server = new PacketReader();
  private phase: "handshake" | "command" = "handshake";
  /** the client's handshake response has passed */
  private responded = false;
  private user: string | undefined;
  private database: string | undefined;
  /** forwarded commands whose answer's first packet has not come yet */
  private expect = 0;

  /** what skimRequests counted in the current chunk */
  private skimmed = 0;
  private readonly onSkim = (seq: number, _end: number, body: Buffer | null): void => {
    if (this.phase === "handshake") {
      this.handshakePacket(body);
      return;
    }
    if (body === null || body.length === 0 || seq !== 0) return;
    const cmd = body[0]!;
    if (cmd === COM_QUIT || cmd === COM_STMT_CLOSE || cmd === COM_STMT_SEND_LONG_DATA) return;
    if (cmd === COM_INIT_DB) this.database = body.toString("utf8", 1);
    this.skimmed++;
    this.expect++; // as forwarded() counts it
  };

  /** No rule: commands counted (the handshake followed), no query text read. */
  skimRequests(chunk: Buffer): number {
    this.skimmed = 0;
    this.client.feed(chunk, ALWAYS, this.onSkim);
    return this.skimmed;
  }

  get midRequest(): boolean {
    return this.client.inPacket;
  }

  scanRequests(chunk: Buffer): ScannedRequest[] {
    const out: ScannedRequest[] = [];
    this.client.feed(chunk, ALWAYS, (seq, end, body) => {
      if (this.phase === "handshake") {
        this.handshakePacket(body);
        out.push({ end, info: null, responses: 0 });
        return;
      }
      if (body === null || body.length === 0 || seq !== 0) {
        out.push({ end, info: null, responses: 0 });
        return;
      }
      const cmd = body[0]!;
      if (cmd === COM_QUIT || cmd === COM_STMT_CLOSE || cmd === COM_STMT_SEND_LONG_DATA) {
        out.push({ end, info: null, responses: 0 });
        return;
      }
      if (cmd === COM_INIT_DB) this.database = body.toString("utf8", 1);
      const query = cmd === COM_QUERY || cmd === COM_STMT_PREPARE ? body.toString("utf8", 1) : undefined;
      const other = cmd === COM_STMT_EXECUTE ? "COM_STMT_EXECUTE" : `command 0x${cmd.toString(16)}`;
      out.push({ end, info: new SqlRequest(query, this.user, this.database, other, false), responses: 1 });
    });
    return out;
  }

  /**
   * The client's first packet is its handshake response (sequence 1; 2 when a TLS server is
   * behind a proxy that speaks TLS to it: the agent's SSLRequest took 1); later packets of the
   * phase are auth data.
   */
  private handshakePacket(body: Buffer | null): void {
    if (this.responded) return;
    this.responded = true;
    if (body !== null && body.length >= 32) this.handshakeResponse(body);
  }

  private handshakeResponse(body: Buffer): void {
    const caps = body.readUInt32LE(0);
    if (caps & CLIENT_SSL && body.length === 32) {
      this.opaque = "the client switched to TLS: request faults off for this connection";
      return;
    }
    let p = 32;
    const zero = body.indexOf(0, p);
    if (zero < 0) return;
    this.user = body.toString("utf8", p, zero);
    p = zero + 1;
    if (caps & CLIENT_PLUGIN_AUTH_LENENC) {
      const n = body[p] ?? 0;
      p += 1 + (n < 0xfb ? n : 0);
    } else if (caps & CLIENT_SECURE_CONNECTION) {
      p += 1 + (body[p] ?? 0);
    } else {
      const z = body.indexOf(0, p);
      p = z < 0 ? body.length : z + 1;
    }
    if (caps & CLIENT_CONNECT_WITH_DB && p < body.length) {
      const z = body.indexOf(0, p);
      this.database = body.toString("utf8", p, z < 0 ? body.length : z);
    }
  }

  /** An ERR packet (0xff after the 4-byte header) is a failed answer. */
  answerFailed(first: Buffer): boolean {
    return first.length > 4 && first[4] === 0xff;
  }

  scanResponses(chunk: Buffer): number[] {
    const ends: number[] = [];
    this.server.feed(chunk, this.phase === "handshake" ? ALWAYS : NEVER, (seq, end, body) => {
      if (this.phase === "handshake") {
        // the OK that ends authentication
        if (seq >= 2 && body !== null && body[0] === 0x00) this.phase = "command";
        return;
      }
      if (this.expect > 0) {
        this.expect--;
        ends.push(end);
      }
    });
    return ends;
  }

  forwarded(info: RequestInfo): void {
    void info;
    this.expect++;
  }

  failEffect(fail: MysqlFail): FailEffect {
    const answer = errPacket(fail);
    if (!fail.rollback) return { answer };
    this.expect++;
    const sql = Buffer.from("\x03ROLLBACK", "latin1");
    const head = Buffer.alloc(4);
    head.writeUIntLE(sql.length, 0, 3);
    head[3] = 0;
    return { substitute: Buffer.concat([head, sql]), answer };
  }
}

/** An ERR packet (sequence 1, the answer to a command): 0xff, errno, '#', SQLSTATE, message. */
export function errPacket(fail: MysqlFail): Buffer {
  const msg = Buffer.from(fail.message, "utf8");
  const body = Buffer.alloc(1 + 2 + 1 + 5);
  body[0] = 0xff;
  body.writeUInt16LE(fail.errno, 1);
  body.write(`#${fail.sqlstate}`, 3, "latin1");
  const payload = Buffer.concat([body, msg]);
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = 1;
  return Buffer.concat([head, payload]);
}

function compileFail(fail: Record<string, unknown>): MysqlFail {
  for (const k of Object.keys(fail)) {
    if (k !== "errno" && k !== "sqlstate" && k !== "message") throw new RuleError(`fail.${k}`, `a mysql fail takes errno, sqlstate and message, got field ${JSON.stringify(k)}`);
  }
  const errno = typeof fail.errno === "string" && /^\d+$/.test(fail.errno) ? Number(fail.errno) : fail.errno;
  if (typeof errno !== "number" || !Number.isInteger(errno) || errno < 1 || errno > 65535) {
    throw new RuleError("fail.errno", `expected a MySQL error number (1 to 65535, e.g. 1213), got ${JSON.stringify(fail.errno)}`);
  }
  const known = MYSQL_ERRORS[errno];
  const sqlstate = fail.sqlstate ?? known?.[0] ?? "HY000";
  if (typeof sqlstate !== "string" || !/^[0-9A-Z]{5}$/.test(sqlstate)) throw new RuleError("fail.sqlstate", `expected a SQLSTATE of five characters (e.g. "40001"), got ${JSON.stringify(sqlstate)}`);
  const message = fail.message ?? known?.[1] ?? `injected failure (error ${errno})`;
  if (typeof message !== "string" || message === "") throw new RuleError("fail.message", `expected text, got ${JSON.stringify(message)}`);
  return { errno, sqlstate, message, rollback: errno === 1213 };
}

export const mysqlProtocol: ProtocolModule<MysqlFail> = {
  name: "mysql",
  matchFields: { query: "regex", user: "glob", database: "glob" },
  actions: ["fail", "delay", "lose", "reset"],
  compileFail,
  open(ctx: StreamContext<MysqlFail>) {
    return new FramedStream(new MysqlCodec(), ctx);
  },
};
