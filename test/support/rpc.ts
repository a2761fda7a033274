// A raw JSON-RPC-over-WebSocket peer for agent tests (not a test file): sends frames exactly as
// given and hands back what the agent answers, so the tests see the wire, not a client library.
import WebSocket from "ws";
import { once } from "node:events";

export interface RpcReply {
  jsonrpc: string;
  id: string | number | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

export interface EventMessage {
  jsonrpc: string;
  method: "event";
  params: { topic: string; proxy: string; data: Record<string, unknown> };
}

export interface OpenOptions {
  token?: string;
  headers?: Record<string, string>;
}

export class RawRpc {
  /** replies and batches not yet taken, in arrival order */
  private readonly inbox: unknown[] = [];
  private readonly waiters: ((m: unknown) => void)[] = [];
  readonly events: EventMessage[] = [];
  private nextId = 1;
  closeCode: number | null = null;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on("error", () => {});
    ws.on("message", (data: WebSocket.RawData) => {
      const msg: unknown = JSON.parse(String(data));
      if (typeof msg === "object" && msg !== null && (msg as { method?: unknown }).method === "event") {
        this.events.push(msg as EventMessage);
        return;
      }
      const w = this.waiters.shift();
      if (w) w(msg);
      else this.inbox.push(msg);
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code: number) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
  }

  static async open(url: string, opts: OpenOptions = {}): Promise<RawRpc> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    const ws = new WebSocket(url, { headers, maxPayload: 64 * 1024 * 1024 });
    const peer = new RawRpc(ws);
    await once(ws, "open");
    return peer;
  }

  /** Sends a raw text frame. */
  send(text: string): void {
    this.ws.send(text);
  }

  /** The next reply (or batch) the agent sends. */
  next(timeoutMs = 10_000): Promise<unknown> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(take);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const take = (m: unknown) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push(take);
    });
  }

  /** Sends one request and returns its reply. */
  async call(method: string, params?: unknown): Promise<RpcReply> {
    const id = this.nextId++;
    this.send(JSON.stringify(params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params }));
    const reply = (await this.next()) as RpcReply;
    if (reply.id !== id) throw new Error(`expected the reply to ${id}, got ${JSON.stringify(reply)}`);
    return reply;
  }

  /** Calls and returns the result, failing with the error object when there is one. */
  async ok<T = unknown>(method: string, params?: unknown): Promise<T> {
    const reply = await this.call(method, params);
    if (reply.error) throw new Error(`${method} failed: ${JSON.stringify(reply.error)}`);
    return reply.result as T;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Tries a WebSocket upgrade; resolves with the HTTP status of a refusal, or 101 when accepted. */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on("error", () => {});
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on("open", () => {
      resolve(101);
      ws.close();
    });
  });
}
