// The JSON-RPC 2.0 side of the control channel: one session per WebSocket. Text frames carry
// one request, notification or batch each. Nothing a peer sends can harm the agent or other
// sessions: every step is wrapped, and errors become JSON-RPC error objects.
import { PROTOCOLS, type ProtocolName } from "../requests/rule.js";
import { parseUdpIdle } from "../relay/udp/udp-options.js";
import { randomUUID } from "node:crypto";
import type { WebSocket, RawData } from "ws";
import {
  ErrorCode,
  EVENT_TOPICS,
  REQUESTS_SAMPLING,
  type RequestsSampling,
  MAX_JSON_DEPTH,
  type EventNotification,
  type EventTopic,
  type FieldError,
  type MethodName,
  type RpcErrorObject,
} from "../control/protocol.js";
import { parseDuration, parsePercent, UnitError } from "../units.js";
import { parseCidr } from "../relay/targeting.js";
import { parseHostPort } from "../relay/address.js";
import { checkProxyName } from "./config.js";
import type { Agent, ResolvedImpairment } from "./agent.js";
import { AgentError, invalidParams } from "./errors.js";
import { EventFeed, DEFAULT_STATS_INTERVAL_MS, MIN_STATS_INTERVAL_MS } from "./events.js";
import { logControlRequest, type Logger } from "./log.js";

export const MAX_BATCH = 100;
/** socket buffer above which event notifications are dropped for a slow reader */
export const MAX_EVENT_BACKLOG_BYTES = 4 * 1024 * 1024;
/** unsent bytes above which a session stops reading its client's requests until they drain */
export const MAX_REPLY_BACKLOG_BYTES = 8 * 1024 * 1024;
/** ... and the level they must drain to before it reads again */
export const REPLY_BACKLOG_RESUME_BYTES = 1024 * 1024;
/** a client that leaves its replies unread this long with reading stopped is closed */
export const REPLY_STALL_CLOSE_MS = 15_000;
/** the WebSocket close code for that (1008, policy violation) */
export const REPLY_STALL_CLOSE_CODE = 1008;

export interface RateLimit {
  /** requests refilled per second */
  perSecond: number;
  /** bucket size (burst) */
  burst: number;
}
export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 200, burst: 400 };

export interface ControlContext {
  agent: Agent;
  log: Logger;
  rateLimit?: RateLimit;
}

type Id = string | number | null;
interface RpcResponse {
  jsonrpc: "2.0";
  id: Id;
  result?: unknown;
  error?: RpcErrorObject;
}

class RpcFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

const OUTCOMES: Record<number, string> = {
  [ErrorCode.ParseError]: "parse_error",
  [ErrorCode.InvalidRequest]: "invalid_request",
  [ErrorCode.MethodNotFound]: "method_not_found",
  [ErrorCode.InvalidParams]: "invalid_params",
  [ErrorCode.InternalError]: "internal_error",
  [ErrorCode.NotFound]: "not_found",
  [ErrorCode.Conflict]: "conflict",
  [ErrorCode.RateLimited]: "rate_limited",
  [ErrorCode.Cancelled]: "cancelled",
};

/**
 * Deepest nesting of arrays/objects in a JSON text, found by scanning (strings skipped), so
 * a hostile document is refused before JSON.parse builds it. Stops counting past `limit`.
 */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}

class TokenBucket {
  private tokens: number;
  private at = performance.now();
  constructor(private readonly limit: RateLimit) {
    this.tokens = limit.burst;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.at) / 1000) * this.limit.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  try {
    const s = JSON.stringify(v) ?? String(v);
    return s.length > 80 ? s.slice(0, 77) + "..." : s;
  } catch {
    return String(v);
  }
}

/** Reads request params, collecting one FieldError per bad field. */
class Params {
  readonly errors: FieldError[] = [];
  constructor(
    private readonly p: Record<string, unknown>,
    allowed: readonly string[],
  ) {
    for (const key of Object.keys(p)) if (!allowed.includes(key)) this.errors.push({ path: `params.${key}`, message: `unknown field (known: ${allowed.join(", ") || "none"})` });
  }
  private bad(key: string, message: string): undefined {
    this.errors.push({ path: `params.${key}`, message });
    return undefined;
  }
  string(key: string): string {
    const v = this.p[key];
    if (typeof v === "string" && v !== "") return v;
    this.bad(key, v === undefined ? "required (a non-empty string)" : `expected a non-empty string, got ${show(v)}`);
    return "";
  }
  optString(key: string): string | undefined {
    const v = this.p[key];
    if (v === undefined) return undefined;
    if (typeof v === "string" && v !== "") return v;
    return this.bad(key, `expected a non-empty string, got ${show(v)}`);
  }
  optBoolean(key: string): boolean | undefined {
    const v = this.p[key];
    if (v === undefined || typeof v === "boolean") return v;
    return this.bad(key, `expected true or false, got ${show(v)}`);
  }
  optObject(key: string): Record<string, unknown> | undefined {
    const v = this.p[key];
    if (v === undefined || v === null) return undefined;
    if (isRecord(v)) return v;
    return this.bad(key, `expected an object, got ${show(v)}`);
  }
  optUnit<T>(key: string, parse: (v: unknown) => T): T | undefined {
    const v = this.p[key];
    if (v === undefined || v === null) return undefined;
    try {
      return parse(v);
    } catch (err) {
      return this.bad(key, err instanceof UnitError ? err.message : String(err));
    }
  }
  raw(key: string): unknown {
    return this.p[key];
  }
  add(path: string, message: string): void {
    this.errors.push({ path, message });
  }
  check(): void {
    if (this.errors.length) throw invalidParams(this.errors);
  }
}

type Handler = (params: Record<string, unknown>, session: ControlSession) => unknown;

const METHODS: Record<MethodName, Handler> = {
  "agent.info": (p, s) => {
    new Params(p, []).check();
    return s.agent.info();
  },
  "agent.ca": (p, s) => {
    new Params(p, []).check();
    return s.agent.caCertificate();
  },
  "proxy.list": (p, s) => {
    new Params(p, []).check();
    return s.agent.listProxies();
  },
  "proxy.create": async (p, s) => {
    const r = new Params(p, ["name", "listen", "upstream", "enabled", "maxConnections", "protocol", "tls", "udpIdle", "udpMaxFlows"]);
    const protocol = protocolParam(r);
    const name = r.string("name");
    const listen = r.string("listen");
    const upstream = r.string("upstream");
    const enabled = r.optBoolean("enabled");
    const nameError = name ? checkProxyName(name) : null;
    if (nameError) r.add("params.name", nameError);
    for (const [key, value] of [["listen", listen], ["upstream", upstream]] as const) {
      const hp = value ? parseHostPort(value) : null;
      if (typeof hp === "string") r.add(`params.${key}`, hp);
    }
    const mc = r.raw("maxConnections");
    if (mc !== undefined && !(typeof mc === "number" && Number.isInteger(mc) && mc >= 0)) r.add("params.maxConnections", `expected a whole number >= 0 (0 = unlimited), got ${show(mc)}`);
    const udp = udpParams(r);
    r.check();
    const tls = r.raw("tls");
    return s.agent.createProxy({ name, listen, upstream, ...(enabled !== undefined ? { enabled } : {}), ...(typeof mc === "number" ? { maxConnections: mc } : {}), ...(protocol !== undefined ? { protocol } : {}), ...(tls !== undefined && tls !== null ? { tls } : {}), ...udp });
  },
  "proxy.update": async (p, s) => {
    const r = new Params(p, ["name", "upstream", "enabled", "protocol", "tls"]);
    const protocol = protocolParam(r);
    const name = r.string("name");
    const upstream = r.optString("upstream");
    const hp = upstream !== undefined ? parseHostPort(upstream) : null;
    if (typeof hp === "string") r.add("params.upstream", hp);
    const enabled = r.optBoolean("enabled");
    r.check();
    const tls = r.raw("tls");
    return s.agent.updateProxy({ name, ...(upstream !== undefined ? { upstream } : {}), ...(enabled !== undefined ? { enabled } : {}), ...(protocol !== undefined ? { protocol } : {}), ...(tls !== undefined ? { tls } : {}) });
  },
  "proxy.delete": async (p, s) => {
    const r = new Params(p, ["name"]);
    const name = r.string("name");
    r.check();
    await s.agent.deleteProxy(name);
    return { deleted: true };
  },
  "impair.apply": (p, s) => {
    const r = new Params(p, ["proxy", "profile", "spec", "set", "ttl", "percent", "clients", "bindToSession"]);
    const proxy = r.string("proxy");
    const profile = r.optString("profile");
    const spec = r.optObject("spec");
    const set = r.optObject("set");
    const ttlMs = r.optUnit("ttl", parseDuration);
    if (ttlMs !== undefined && ttlMs <= 0) r.add("params.ttl", `expected a duration above 0 like 30s, got ${show(r.raw("ttl"))}`);
    const percent = r.optUnit("percent", parsePercent);
    const bind = r.optBoolean("bindToSession");
    const clientsRaw = r.raw("clients");
    let clients: string[] | undefined;
    if (clientsRaw !== undefined && clientsRaw !== null) {
      if (!Array.isArray(clientsRaw)) r.add("params.clients", `expected a list of CIDRs like ["10.0.0.0/8"], got ${show(clientsRaw)}`);
      else {
        clients = [];
        clientsRaw.forEach((c: unknown, i) => {
          const parsed = typeof c === "string" ? parseCidr(c) : `expected a CIDR like 10.0.0.0/8 or ::1/128, got ${show(c)}`;
          if (typeof parsed === "string") r.add(`params.clients[${i}]`, parsed);
          else clients!.push(c as string);
        });
      }
    }
    // a proxy or profile typo is "not found", reported before any schema error
    const targets = proxy && r.errors.every((e) => e.path !== "params.proxy") ? s.agent.targets(proxy) : [];
    let resolved: ResolvedImpairment | null = null;
    try {
      resolved = s.agent.resolve({ ...(profile !== undefined ? { profile } : {}), ...(spec !== undefined ? { spec } : {}), ...(set !== undefined ? { set } : {}) });
    } catch (err) {
      if (err instanceof AgentError && err.code === ErrorCode.InvalidParams && Array.isArray(err.data)) r.errors.push(...err.data);
      else throw err;
    }
    r.check();
    const results = s.agent.applyResolved(targets, resolved!, {
      ttlMs: ttlMs ?? null,
      ...(percent !== undefined ? { percent } : {}),
      ...(clients !== undefined ? { clients } : {}),
      session: bind ? s.id : null,
      who: s.peer,
    });
    return proxy === "*" ? results : results[0];
  },
  "impair.clear": (p, s) => {
    const r = new Params(p, ["proxy"]);
    const proxy = r.string("proxy");
    r.check();
    const cleared = s.agent.clear(proxy, s.peer, s.id).map(({ proxy: name, profile, toxics }) => ({ proxy: name, removed: { profile, toxics } }));
    return proxy === "*" ? cleared : cleared[0];
  },
  "conn.list": (p, s) => {
    const r = new Params(p, ["proxy"]);
    const proxy = r.string("proxy");
    r.check();
    const conns = s.agent.connections(proxy);
    return proxy === "*" ? conns : conns.map(({ proxy: _p, ...c }) => c);
  },
  "conn.reset": (p, s) => {
    const r = new Params(p, ["proxy", "id"]);
    const proxy = r.string("proxy");
    const id = r.optString("id");
    r.check();
    return { reset: s.agent.resetConnections(proxy, id) };
  },
  "profile.list": (p, s) => {
    new Params(p, []).check();
    return s.agent.profileNames();
  },
  "profile.get": (p, s) => {
    const r = new Params(p, ["name"]);
    const name = r.string("name");
    r.check();
    return s.agent.getProfile(name);
  },
  "profile.define": (p, s) => {
    const r = new Params(p, ["spec"]);
    const spec = r.raw("spec");
    if (!isRecord(spec)) r.add("params.spec", spec === undefined ? "required (a profile object with a name)" : `expected a profile object, got ${show(spec)}`);
    r.check();
    return s.agent.defineProfile(spec);
  },
  "events.subscribe": (p, s) => {
    const r = new Params(p, ["topics", "intervalMs", "requests"]);
    const topics = r.raw("topics");
    const chosen: EventTopic[] = [];
    if (!Array.isArray(topics)) r.add("params.topics", `expected a list of topics (${EVENT_TOPICS.join(", ")}), got ${show(topics)}`);
    else
      topics.forEach((t: unknown, i) => {
        if (typeof t === "string" && (EVENT_TOPICS as readonly string[]).includes(t)) {
          if (!chosen.includes(t as EventTopic)) chosen.push(t as EventTopic);
        } else r.add(`params.topics[${i}]`, `expected one of ${EVENT_TOPICS.join(", ")}, got ${show(t)}`);
      });
    const iv = r.raw("intervalMs");
    if (iv !== undefined && !(typeof iv === "number" && Number.isFinite(iv) && iv >= MIN_STATS_INTERVAL_MS && iv <= 3_600_000))
      r.add("params.intervalMs", `expected a number of ms from ${MIN_STATS_INTERVAL_MS} to 3600000, got ${show(iv)}`);
    const sampling = r.raw("requests");
    if (sampling !== undefined && !(typeof sampling === "string" && (REQUESTS_SAMPLING as readonly string[]).includes(sampling)))
      r.add("params.requests", `expected one of ${REQUESTS_SAMPLING.join(", ")}, got ${show(sampling)}`);
    r.check();
    const requests = (sampling as RequestsSampling | undefined) ?? "faults";
    return { subscribed: s.events.subscribe(chosen, typeof iv === "number" ? iv : DEFAULT_STATS_INTERVAL_MS, requests) };
  },
  "agent.panic": (p, s) => {
    new Params(p, []).check();
    return s.agent.panic(s.peer, s.id);
  },
};

export class ControlSession {
  readonly id = randomUUID();
  readonly events: EventFeed;
  private readonly bucket: TokenBucket;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** set while reading is stopped because the client leaves its replies unread */
  private stalled: Promise<void> | null = null;

  constructor(
    private readonly ws: WebSocket,
    readonly peer: string,
    private readonly ctx: ControlContext,
  ) {
    this.bucket = new TokenBucket(ctx.rateLimit ?? DEFAULT_RATE_LIMIT);
    this.events = new EventFeed(ctx.agent, (n) => this.notify(n));
    ws.on("message", (data: RawData, isBinary: boolean) => {
      // one at a time, in order: "apply then clear" on one connection means exactly that
      this.queue = this.queue
        .then(() => this.roomForReplies())
        .then(() => this.onFrame(data, isBinary))
        .catch((err: unknown) => this.ctx.log.error({ err: String(err), peer }, "control frame failed"));
    });
    ws.on("close", () => this.onClose());
    ctx.agent.watchSession(this.id, (c) => this.send({ jsonrpc: "2.0", method: "session.cancelled", params: c }));
  }

  /**
   * Back-pressure on a client that sends but does not read: past MAX_REPLY_BACKLOG_BYTES of
   * unsent replies the session stops reading (the client's sends wait in TCP) until they drain
   * to REPLY_BACKLOG_RESUME_BYTES; still stuck after REPLY_STALL_CLOSE_MS, it is closed (1008).
   */
  private roomForReplies(): Promise<void> | void {
    if (this.closed || this.ws.bufferedAmount <= MAX_REPLY_BACKLOG_BYTES) return;
    this.stalled ??= new Promise<void>((resolve) => {
      const ws = this.ws;
      ws.pause();
      const since = performance.now();
      this.ctx.log.warn({ event: "control.backlog", peer: this.peer, bytes: ws.bufferedAmount }, "control client is not reading its replies; reading from it stops until they drain");
      const timer = setInterval(() => {
        const drained = ws.bufferedAmount <= REPLY_BACKLOG_RESUME_BYTES;
        if (drained || this.closed || ws.readyState !== ws.OPEN) {
          clearInterval(timer);
          this.stalled = null;
          if (ws.readyState === ws.OPEN) ws.resume();
          resolve();
        } else if (performance.now() - since > REPLY_STALL_CLOSE_MS) {
          clearInterval(timer);
          const reason = `replies not read: ${Math.round(ws.bufferedAmount / 1024)} KiB unsent for ${REPLY_STALL_CLOSE_MS / 1000} s`;
          this.ctx.log.warn({ event: "control.backlog.close", peer: this.peer, bytes: ws.bufferedAmount }, `closing the control connection: ${reason}`);
          ws.close(REPLY_STALL_CLOSE_CODE, reason);
          // its close frame waits behind the backlog it does not read: cut it shortly after
          setTimeout(() => ws.terminate(), 1000).unref();
          this.stalled = null;
          resolve();
        }
      }, 50);
      timer.unref();
    });
    return this.stalled;
  }

  get agent(): Agent {
    return this.ctx.agent;
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.events.close();
    // requests that arrived before the close still run first, so a bound apply among them
    // is undone too rather than left behind
    void this.queue.then(() => {
      try {
        const reverted = this.ctx.agent.endSession(this.id, `${this.peer} (session closed)`);
        if (reverted.length) this.ctx.log.info({ event: "session.end", peer: this.peer, reverted }, "control session closed; bound impairments reverted");
      } catch (err) {
        this.ctx.log.error({ err: String(err), peer: this.peer }, "session revert failed");
      }
    });
  }

  private send(payload: unknown): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    let text: string;
    try {
      text = JSON.stringify(payload);
    } catch (err) {
      text = JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: ErrorCode.InternalError, message: `result could not be encoded: ${String(err)}` } });
    }
    this.ws.send(text, (err) => err && this.ctx.log.debug({ err: err.message, peer: this.peer }, "control send failed"));
  }

  private notify(n: EventNotification): void {
    if (this.ws.bufferedAmount > MAX_EVENT_BACKLOG_BYTES) return; // a slow reader loses events, not the agent's memory
    this.send({ jsonrpc: "2.0", method: "event", params: n });
  }

  private async onFrame(data: RawData, isBinary: boolean): Promise<void> {
    if (isBinary) return this.send(this.failure(null, ErrorCode.InvalidRequest, "Invalid Request: binary frames are not accepted; send JSON-RPC as text", "(binary)"));
    const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.from(data as ArrayBuffer).toString("utf8");
    const depth = jsonDepth(text);
    if (depth > MAX_JSON_DEPTH) return this.send(this.failure(null, ErrorCode.InvalidRequest, `Invalid Request: nesting deeper than ${MAX_JSON_DEPTH} levels is refused`, "(too deep)"));
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      return this.send(this.failure(null, ErrorCode.ParseError, `Parse error: ${(err as Error).message}`, "(parse)"));
    }
    if (Array.isArray(msg)) {
      if (msg.length === 0) return this.send(this.failure(null, ErrorCode.InvalidRequest, "Invalid Request: an empty batch", "(batch)"));
      if (msg.length > MAX_BATCH) return this.send(this.failure(null, ErrorCode.InvalidRequest, `Invalid Request: a batch of ${msg.length} requests is over the limit of ${MAX_BATCH}`, "(batch)"));
      const responses: RpcResponse[] = [];
      for (const item of msg) {
        const r = await this.handle(item);
        if (r) responses.push(r);
      }
      if (responses.length) this.send(responses);
      return;
    }
    const r = await this.handle(msg);
    if (r) this.send(r);
  }

  /** One request or notification; null when nothing is to be sent back. */
  private async handle(msg: unknown): Promise<RpcResponse | null> {
    const started = performance.now();
    if (!isRecord(msg)) return this.failure(null, ErrorCode.InvalidRequest, `Invalid Request: expected a JSON-RPC request object, got ${show(msg)}`, "(invalid)");
    const rawId = msg.id;
    const idOk = rawId === undefined || rawId === null || typeof rawId === "string" || (typeof rawId === "number" && Number.isFinite(rawId));
    const id: Id = idOk && rawId !== undefined ? (rawId as Id) : null;
    const isNotification = !("id" in msg);
    const method = typeof msg.method === "string" ? msg.method : null;
    // own keys only: "toString", "constructor", "__proto__" are Object.prototype's, not methods
    const handler = method !== null && Object.hasOwn(METHODS, method) ? (METHODS as Record<string, Handler>)[method] : undefined;
    const label = handler ? method! : "(unknown)";
    const problems: string[] = [];
    if (msg.jsonrpc !== "2.0") problems.push(`"jsonrpc" must be "2.0", got ${show(msg.jsonrpc)}`);
    if (method === null) problems.push(`"method" must be a string, got ${show(msg.method)}`);
    if (!idOk) problems.push(`"id" must be a string, a number or null, got ${show(rawId)}`);
    if (msg.params !== undefined && !isRecord(msg.params)) problems.push(`"params" must be an object, got ${show(msg.params)}`);
    if (problems.length) return this.failure(id, ErrorCode.InvalidRequest, `Invalid Request: ${problems.join("; ")}`, label, started);
    if (!this.bucket.take()) {
      const f = this.failure(id, ErrorCode.RateLimited, "Rate limited: too many requests on this connection; slow down", label, started);
      return isNotification ? null : f;
    }
    if (!handler) {
      const f = this.failure(id, ErrorCode.MethodNotFound, `Method not found: ${show(method)} (methods: ${Object.keys(METHODS).join(", ")})`, label, started);
      return isNotification ? null : f;
    }
    try {
      const result = await handler((msg.params as Record<string, unknown> | undefined) ?? {}, this);
      this.record(label, "ok", started);
      return isNotification ? null : { jsonrpc: "2.0", id, result: result ?? null };
    } catch (err) {
      let f: RpcResponse;
      if (err instanceof AgentError || err instanceof RpcFailure) f = this.failure(id, err.code, err.message, label, started, err.data);
      else {
        this.ctx.log.error({ err: err instanceof Error ? err.stack : String(err), method: label, peer: this.peer }, "control method failed");
        f = this.failure(id, ErrorCode.InternalError, `Internal error: ${err instanceof Error ? err.message : String(err)}`, label, started);
      }
      return isNotification ? null : f;
    }
  }

  private failure(id: Id, code: number, message: string, method: string, started = performance.now(), data?: unknown): RpcResponse {
    this.record(method, OUTCOMES[code] ?? "error", started, message);
    const error: RpcErrorObject = { code, message };
    if (data !== undefined) error.data = data;
    return { jsonrpc: "2.0", id, error };
  }

  private record(method: string, outcome: string, started: number, error?: string): void {
    try {
      this.ctx.agent.metrics.countRequest(method, outcome);
      logControlRequest(this.ctx.log, { method, outcome, peer: this.peer, durationMs: Math.round((performance.now() - started) * 10) / 10, ...(error ? { error } : {}) });
    } catch {
      // metrics and logs never break a reply
    }
  }
}

/** Starts a JSON-RPC session on an accepted control WebSocket. */
export function attachControlSession(ws: WebSocket, peer: string, ctx: ControlContext): ControlSession {
  return new ControlSession(ws, peer, ctx);
}

/** The optional `udpIdle` (a duration) and `udpMaxFlows` params of proxy.create. */
function udpParams(r: Params): { udpIdleMs?: number; udpMaxFlows?: number } {
  const out: { udpIdleMs?: number; udpMaxFlows?: number } = {};
  const idle = r.raw("udpIdle");
  if (idle !== undefined) {
    const ms = parseUdpIdle(idle);
    if (typeof ms === "string") r.add("params.udpIdle", ms);
    else out.udpIdleMs = ms;
  }
  const flows = r.raw("udpMaxFlows");
  if (flows !== undefined) {
    if (typeof flows === "number" && Number.isInteger(flows) && flows >= 1) out.udpMaxFlows = flows;
    else r.add("params.udpMaxFlows", `expected a whole number >= 1, got ${show(flows)}`);
  }
  return out;
}

/** The optional `protocol` param of proxy.create / proxy.update. */
function protocolParam(r: Params): ProtocolName | undefined {
  const v = r.raw("protocol");
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !(PROTOCOLS as readonly string[]).includes(v)) {
    r.add("params.protocol", `expected one of ${PROTOCOLS.join(" | ")}, got ${show(v)}`);
    return undefined;
  }
  return v as ProtocolName;
}
