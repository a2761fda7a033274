// The typed control client: one WebSocket to one agent, JSON-RPC 2.0 calls with timeouts.
// The CLI and the library both use it; every method's shape comes from ./protocol.ts.
import WebSocket from "ws";
import type {
  AgentInfo,
  ApplyParams,
  ApplyResult,
  ConnInfo,
  EventNotification,
  EventTopic,
  MethodName,
  Methods,
  ProxyInfo,
  ProxyTlsSpec,
  RpcErrorObject,
  SessionCancelledNotification,
  SetOverrides,
  SubscribeParams,
} from "./protocol.js";
import { MAX_FRAME_BYTES } from "./protocol.js";
import type { ResolvedProfile } from "../profiles/types.js";

export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** subscribe's options: the stats interval and which requests topic `requests` carries. */
export type SubscribeOptions = Omit<SubscribeParams, "topics">;

export interface ConnectOptions {
  /** sent as `Authorization: Bearer TOKEN` */
  token?: string;
  /** connect timeout and per-call timeout, ms (default 10 s) */
  timeoutMs?: number;
  /** default of `apply`'s bindToSession (default true: a crashed test leaves no broken network) */
  bindToSession?: boolean;
  /** PEM CA certificate(s) trusted for wss:// */
  ca?: string | Buffer;
  /** aborting it gives up connecting at once (rejects with a "timeout" ConnectionError naming the reason) */
  signal?: AbortSignal;
}

/**
 * An error object returned by the agent for one call. The message is the agent's own (with the
 * field errors), without the URL, so a caller that reports several agents puts the URL in front
 * once (the CLI does); `url` says which agent answered.
 */
export class RpcError extends Error {
  readonly code: number;
  readonly data?: unknown;
  readonly method: string;
  /** the control URL of the agent that answered with this error */
  readonly url: string;
  constructor(method: string, err: RpcErrorObject, url: string) {
    super(describeRpcError(err));
    this.name = "RpcError";
    this.code = err.code;
    this.data = err.data;
    this.method = method;
    this.url = url;
  }
}

export type ConnectionErrorKind = "refused" | "unauthorized" | "timeout" | "not-found" | "closed" | "rejected" | "network";

/** The agent could not be reached, refused us, timed out or went away. The message names the URL. */
export class ConnectionError extends Error {
  readonly url: string;
  readonly kind: ConnectionErrorKind;
  /** bare cause without the URL, e.g. "connection refused" */
  readonly reason: string;
  /** the socket or TLS error code behind it (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT...), if any */
  readonly code: string | undefined;
  constructor(url: string, kind: ConnectionErrorKind, cause: string, code?: string) {
    super(`${url}: ${cause}`);
    this.name = "ConnectionError";
    this.url = url;
    this.kind = kind;
    this.reason = cause;
    this.code = code;
  }
}

function describeRpcError(err: RpcErrorObject): string {
  const base = typeof err.message === "string" && err.message !== "" ? err.message : `error ${err.code}`;
  if (Array.isArray(err.data) && err.data.length > 0) {
    const fields = err.data
      .map((f: unknown) => {
        if (f && typeof f === "object" && "message" in f) {
          const fe = f as { path?: unknown; message?: unknown };
          return fe.path ? `${String(fe.path).replace(/^params\./, "")}: ${String(fe.message)}` : String(fe.message);
        }
        return JSON.stringify(f);
      })
      .join("; ");
    return base.includes(fields) ? base : `${base}: ${fields}`;
  }
  return base;
}

/** TLS certificate checks that fail for an agent whose certificate this process does not trust. */
export const UNTRUSTED_CERT_CODES: ReadonlySet<string> = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
]);

/** "HOST:PORT" of a ws(s) URL, for hints. */
function hostPortOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function describeSocketError(url: string, err: NodeJS.ErrnoException): ConnectionError {
  const tls = url.startsWith("wss:");
  switch (err.code) {
    case "ECONNREFUSED":
      return new ConnectionError(url, "refused", "connection refused", err.code);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new ConnectionError(url, "not-found", `host not found (${err.code})`, err.code);
    case "ETIMEDOUT":
      return new ConnectionError(url, "timeout", "connection timed out", err.code);
    case "ECONNRESET":
      // a TLS server drops a plain HTTP upgrade request without a word
      return new ConnectionError(url, "network", tls ? "connection reset by the agent" : `connection reset by the agent (is the agent using TLS? try wss://${hostPortOf(url)})`, err.code);
    case "EPROTO":
      if (tls) {
        const why = /SSL routines:[^:]*:([^:]+)/.exec(err.message)?.[1] ?? err.code;
        return new ConnectionError(url, "network", `TLS handshake failed (${why}): is the agent serving plain ws? try ws://${hostPortOf(url)}`, err.code);
      }
      break;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new ConnectionError(url, "network", "host unreachable", err.code);
  }
  return new ConnectionError(url, "network", err.code ? `${err.code}: ${err.message}` : err.message, err.code);
}

interface PendingCall {
  method: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export type EventHandler = (event: EventNotification) => void;

export interface ApplyOptions {
  set?: SetOverrides;
  spec?: Record<string, unknown>;
  /** duration, e.g. "30s" or ms */
  ttl?: string | number;
  /** 0..100 */
  percent?: number;
  clients?: string[];
  /** default: the client's bindToSession option (true unless connect said otherwise) */
  bindToSession?: boolean;
}

export class ControlClient {
  readonly url: string;
  readonly timeoutMs: number;
  readonly bindToSession: boolean;
  private readonly ws: WebSocket;
  private readonly pending = new Map<number, PendingCall>();
  private readonly eventHandlers = new Set<EventHandler>();
  private readonly cancelHandlers = new Set<(c: SessionCancelledNotification) => void>();
  private nextId = 1;
  private closedError: ConnectionError | null = null;
  private closing = false;

  /** Use connect(). */
  constructor(url: string, ws: WebSocket, timeoutMs: number, bindToSession: boolean) {
    this.url = url;
    this.ws = ws;
    this.timeoutMs = timeoutMs;
    this.bindToSession = bindToSession;
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      this.onMessage(data.toString());
    });
    ws.on("close", (code, reason) => {
      const why = this.closing
        ? "connection closed by the client"
        : `connection closed by the agent (code ${code}${reason.length ? `: ${reason.toString()}` : ""})`;
      this.closedError = new ConnectionError(url, "closed", why);
      this.failAll(this.closedError);
    });
    ws.on("error", (err: NodeJS.ErrnoException) => {
      // "close" follows; remember the cause so pending calls report it
      if (!this.closedError) this.closedError = describeSocketError(url, err);
    });
  }

  /** True until the connection closes. */
  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Calls one method; resolves with its result, rejects with RpcError or ConnectionError. */
  call<M extends MethodName>(method: M, params: Methods[M]["params"], timeoutMs = this.timeoutMs): Promise<Methods[M]["result"]> {
    if (this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(this.closedError ?? new ConnectionError(this.url, "closed", "connection is not open"));
    }
    const id = this.nextId++;
    const frame = JSON.stringify(params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params });
    return new Promise<Methods[M]["result"]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ConnectionError(this.url, "timeout", `${method} timed out after ${formatMs(timeoutMs)}`));
      }, timeoutMs);
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      this.ws.send(frame, (err) => {
        if (!err) return;
        const p = this.pending.get(id);
        if (!p) return;
        clearTimeout(p.timer);
        this.pending.delete(id);
        reject(describeSocketError(this.url, err as NodeJS.ErrnoException));
      });
    });
  }

  info(): Promise<AgentInfo> {
    return this.call("agent.info", undefined);
  }

  proxies(): Promise<ProxyInfo[]> {
    return this.call("proxy.list", undefined);
  }

  createProxy(name: string, listen: string, upstream: string, enabled?: boolean, protocol?: string, tls?: ProxyTlsSpec, udp?: { udpIdle?: string | number; udpMaxFlows?: number }): Promise<ProxyInfo> {
    return this.call("proxy.create", {
      name,
      listen,
      upstream,
      ...(enabled !== undefined ? { enabled } : {}),
      ...(protocol !== undefined ? { protocol } : {}),
      ...(tls !== undefined ? { tls } : {}),
      ...(udp?.udpIdle !== undefined ? { udpIdle: udp.udpIdle } : {}),
      ...(udp?.udpMaxFlows !== undefined ? { udpMaxFlows: udp.udpMaxFlows } : {}),
    });
  }

  /** the agent CA's certificate (PEM) */
  caCertificate(): Promise<{ certificate: string }> {
    return this.call("agent.ca", {});
  }

  /** tls: a side given replaces it, a side null removes it; null removes TLS */
  updateProxy(name: string, change: { upstream?: string; enabled?: boolean; protocol?: string; tls?: ProxyTlsSpec | Record<string, unknown> | null }): Promise<ProxyInfo> {
    return this.call("proxy.update", { name, ...change });
  }

  deleteProxy(name: string): Promise<{ deleted: true }> {
    return this.call("proxy.delete", { name });
  }

  /**
   * Applies a profile (name, or undefined with opts.spec) to a proxy ("*" = all).
   * Bound to this session unless opts.bindToSession (or the client's option) says false.
   */
  apply(proxy: string, profile: string | undefined, opts: ApplyOptions = {}): Promise<ApplyResult | ApplyResult[]> {
    const params: ApplyParams = { proxy, bindToSession: opts.bindToSession ?? this.bindToSession };
    if (profile !== undefined) params.profile = profile;
    if (opts.spec !== undefined) params.spec = opts.spec;
    if (opts.set !== undefined) params.set = opts.set;
    if (opts.ttl !== undefined) params.ttl = opts.ttl;
    if (opts.percent !== undefined) params.percent = opts.percent;
    if (opts.clients !== undefined) params.clients = opts.clients;
    return this.call("impair.apply", params);
  }

  clear(proxy: string): Promise<Methods["impair.clear"]["result"]> {
    return this.call("impair.clear", { proxy });
  }

  connections(proxy: string): Promise<ConnInfo[]> {
    return this.call("conn.list", { proxy });
  }

  reset(proxy: string, id?: string): Promise<{ reset: number }> {
    return this.call("conn.reset", id === undefined ? { proxy } : { proxy, id });
  }

  profiles(): Promise<string[]> {
    return this.call("profile.list", undefined);
  }

  profile(name: string): Promise<ResolvedProfile> {
    return this.call("profile.get", { name });
  }

  defineProfile(spec: Record<string, unknown>): Promise<ResolvedProfile> {
    return this.call("profile.define", { spec });
  }

  /**
   * Subscribes to event topics; the handler sees every `event` notification. The third argument
   * is the stats interval (ms) or the options: `{intervalMs, requests: "faults" | "all"}` (topic
   * requests: only faults, the default, or every request). Returns an unsubscribe (local).
   */
  async subscribe(topics: EventTopic[], handler: EventHandler, options?: number | SubscribeOptions): Promise<() => void> {
    const opts: SubscribeOptions = typeof options === "number" ? { intervalMs: options } : (options ?? {});
    const params: SubscribeParams = { topics };
    if (opts.intervalMs !== undefined) params.intervalMs = opts.intervalMs;
    if (opts.requests !== undefined) params.requests = opts.requests;
    this.eventHandlers.add(handler);
    try {
      await this.call("events.subscribe", params);
    } catch (err) {
      this.eventHandlers.delete(handler);
      throw err;
    }
    return () => {
      this.eventHandlers.delete(handler);
    };
  }

  /**
   * Calls `handler` when a panic or clear from another controller cancels this session (its
   * bound applies were removed; further bound applies fail with code -32010). Returns an
   * unsubscribe.
   */
  onCancelled(handler: (c: SessionCancelledNotification) => void): () => void {
    this.cancelHandlers.add(handler);
    return () => {
      this.cancelHandlers.delete(handler);
    };
  }

  /** Clears every impairment of the agent (Toxiproxy toxics too) and cancels pending ttls. */
  panic(): Promise<Methods["agent.panic"]["result"]> {
    return this.call("agent.panic", undefined);
  }

  /** Drops the connection at once, without the closing handshake (pending calls fail now). */
  terminate(): void {
    this.closing = true;
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }

  /** Closes the connection (the agent then reverts this session's bound impairments). */
  close(): Promise<void> {
    this.closing = true;
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 2000);
      this.ws.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.ws.readyState !== WebSocket.CLOSING) this.ws.close(1000);
    });
  }

  private onMessage(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // an agent never sends this; ignore rather than crash the caller
    }
    if (Array.isArray(msg)) {
      for (const m of msg) this.onOne(m);
    } else {
      this.onOne(msg);
    }
  }

  private onOne(msg: unknown): void {
    if (!msg || typeof msg !== "object") return;
    const m = msg as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (typeof m.method === "string" && m.id === undefined) {
      if (m.method === "event" && m.params && typeof m.params === "object") {
        const ev = m.params as EventNotification;
        for (const h of this.eventHandlers) {
          try {
            h(ev);
          } catch {
            // a handler's bug must not break the connection
          }
        }
      } else if (m.method === "session.cancelled" && m.params && typeof m.params === "object") {
        for (const h of this.cancelHandlers) {
          try {
            h(m.params as SessionCancelledNotification);
          } catch {
            // as above
          }
        }
      }
      return;
    }
    if (typeof m.id !== "number") return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error && typeof m.error === "object") {
      p.reject(new RpcError(p.method, m.error as RpcErrorObject, this.url));
    } else {
      p.resolve(m.result);
    }
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Opens a control connection to an agent (`ws://HOST:PORT/control` or `wss://...`).
 * Rejects with a ConnectionError naming the URL: refused, 401 unauthorized, timeout, not found.
 */
export function connect(url: string, opts: ConnectOptions = {}): Promise<ControlClient> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const bindToSession = opts.bindToSession ?? true;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new ConnectionError(url, "rejected", "not a valid URL (expected ws://HOST:PORT/control)"));
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    return Promise.reject(new ConnectionError(url, "rejected", `unsupported scheme ${parsed.protocol} (expected ws: or wss:)`));
  }
  const headers: Record<string, string> = {};
  if (opts.token !== undefined && opts.token !== "") headers.authorization = `Bearer ${opts.token}`;
  return new Promise<ControlClient>((resolve, reject) => {
    let settled = false;
    const ws = new WebSocket(url, {
      headers,
      maxPayload: 16 * MAX_FRAME_BYTES,
      followRedirects: false,
      perMessageDeflate: false,
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    });
    const fail = (err: ConnectionError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      ws.removeAllListeners("open");
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new ConnectionError(url, "timeout", `timed out connecting after ${formatMs(timeoutMs)}`)), timeoutMs);
    const onAbort = (): void => {
      const why = opts.signal?.reason;
      fail(why instanceof ConnectionError ? why : new ConnectionError(url, "timeout", typeof why === "string" ? why : "gave up connecting"));
    };
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    ws.on("unexpected-response", (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      if (status === 401) {
        fail(new ConnectionError(url, "unauthorized", opts.token ? "401 unauthorized (the token was not accepted)" : "401 unauthorized (the agent needs a token)"));
      } else if (status === 403) {
        fail(new ConnectionError(url, "rejected", "403 forbidden"));
      } else if (status === 404) {
        fail(new ConnectionError(url, "rejected", "404 not found (is the path /control?)"));
      } else {
        fail(new ConnectionError(url, "rejected", `unexpected HTTP status ${status} (is this a netimpair agent?)`));
      }
    });
    ws.on("error", (err: NodeJS.ErrnoException) => {
      fail(describeSocketError(url, err));
    });
    ws.once("open", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      ws.removeAllListeners("error");
      ws.removeAllListeners("unexpected-response");
      resolve(new ControlClient(url, ws, timeoutMs, bindToSession));
    });
  });
}
