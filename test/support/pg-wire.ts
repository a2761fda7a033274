// A raw PostgreSQL frontend (not a test file): startup, then the extended-protocol messages a
// pipelining driver writes (Parse/Bind/Execute... then one Sync) as bytes, and the backend's
// messages read back by type. For tests that need exact control of what goes on the wire.
import net, { type Socket } from "node:net";
import { once } from "node:events";

export interface BackendMessage {
  type: string;
  body: Buffer;
}

function msg(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, "utf8");

export const wire = {
  parse: (sql: string, name = ""): Buffer => msg("P", Buffer.concat([cstr(name), cstr(sql), Buffer.alloc(2)])),
  bind: (statement = "", portal = ""): Buffer => msg("B", Buffer.concat([cstr(portal), cstr(statement), Buffer.alloc(6)])),
  describePortal: (portal = ""): Buffer => msg("D", Buffer.concat([Buffer.from("P"), cstr(portal)])),
  execute: (portal = ""): Buffer => msg("E", Buffer.concat([cstr(portal), Buffer.alloc(4)])),
  closeStatement: (name: string): Buffer => msg("C", Buffer.concat([Buffer.from("S"), cstr(name)])),
  sync: (): Buffer => msg("S", Buffer.alloc(0)),
  query: (sql: string): Buffer => msg("Q", cstr(sql)),
  startup(user: string, database: string): Buffer {
    const body = Buffer.concat([Buffer.from([0, 3, 0, 0]), cstr("user"), cstr(user), cstr("database"), cstr(database), Buffer.from([0])]);
    const head = Buffer.alloc(4);
    head.writeInt32BE(body.length + 4, 0);
    return Buffer.concat([head, body]);
  },
};

/** A frontend connection: messages read in order; `until` waits for one of a type. */
export class PgWire {
  private buf = Buffer.alloc(0);
  private readonly got: BackendMessage[] = [];
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (this.buf.length < 1 + len) break;
        this.got.push({ type: String.fromCharCode(this.buf[0]!), body: this.buf.subarray(5, 1 + len) });
        this.buf = this.buf.subarray(1 + len);
      }
      this.waiter?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on("error", () => undefined);
  }

  /** Connects and starts up (trust auth); resolves once ReadyForQuery came. */
  static async open(port: number, user: string, database: string): Promise<PgWire> {
    const s = net.connect(port, "127.0.0.1");
    await once(s, "connect");
    const w = new PgWire(s);
    s.write(wire.startup(user, database));
    await w.until("Z");
    return w;
  }

  /** Messages up to and including the next one of `type` (throws on close or after `ms`). */
  async until(type: string, ms = 15_000): Promise<BackendMessage[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex((m) => m.type === type);
      if (i >= 0) return this.got.splice(0, i + 1);
      if (this.closed) throw new Error(`connection closed before a '${type}' message`);
      if (Date.now() > deadline) throw new Error(`no '${type}' message in ${ms} ms`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 200);
      });
      this.waiter = null;
    }
  }

  write(...parts: Buffer[]): boolean {
    return this.socket.write(Buffer.concat(parts));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The SQLSTATE of an ErrorResponse body. */
export function errorCode(body: Buffer): string | undefined {
  for (const f of body.toString("utf8").split("\0")) if (f.startsWith("C")) return f.slice(1);
  return undefined;
}
