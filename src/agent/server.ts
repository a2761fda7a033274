// The agent's one HTTP(S) port: /healthz, /metrics, the /control WebSocket, and routes other
// modules mount (e.g. the Toxiproxy REST API, the dashboard). Host check against DNS rebinding,
// auth (Bearer token, constant-time), browser Origin refusal (the agent's own origin allowed),
// control connection limit, keep-alive pings and silent-peer termination.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Duplex } from "node:stream";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { MAX_FRAME_BYTES, PING_INTERVAL_MS, SILENT_CLOSE_MS } from "../control/protocol.js";
import { formatHostPort, isLoopbackHost, parseHostPort } from "../relay/address.js";
import type { TlsMaterial } from "./config.js";
import { HostAllowList } from "./host-check.js";
import type { Logger } from "./log.js";

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;
export type RouteMatcher = string | ((req: IncomingMessage, url: URL) => boolean);
export interface RouteOptions {
  /** needs the Bearer token when one is configured (default true) */
  auth?: boolean;
}

export interface AgentServerOptions {
  /** HOST:PORT to listen on (port 0 = pick one) */
  control: string;
  token: string | null;
  tls: TlsMaterial | null;
  allowOrigins: string[];
  /** host names the agent answers to besides loopback names, IP literals and its bound address */
  allowHosts?: string[];
  insecure: boolean;
  maxControlConnections: number;
  log: Logger;
  /** Prometheus text for GET /metrics */
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** a control WebSocket was accepted */
  onControl: (ws: WebSocket, peer: string) => void;
  pingIntervalMs?: number;
  silentCloseMs?: number;
}

interface Route {
  match: RouteMatcher;
  handler: RouteHandler;
  auth: boolean;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function peerOf(req: IncomingMessage): string {
  const s = req.socket;
  return s.remoteAddress ? formatHostPort(s.remoteAddress, s.remotePort ?? 0) : "unknown";
}

/** The WebSocket subprotocol of the control channel; a browser offers it with its token. */
export const CONTROL_SUBPROTOCOL = "netimpair";
/** A subprotocol "netimpair.bearer.BASE64URL(token)" carries the token from a browser. */
export const BEARER_SUBPROTOCOL_PREFIX = "netimpair.bearer.";

/** The token a browser offered as a subprotocol, or null. */
function subprotocolToken(req: IncomingMessage): string | null {
  const offered = String(req.headers["sec-websocket-protocol"] ?? "").split(",");
  for (const p of offered) {
    const t = p.trim();
    if (t.startsWith(BEARER_SUBPROTOCOL_PREFIX)) return Buffer.from(t.slice(BEARER_SUBPROTOCOL_PREFIX.length), "base64url").toString("utf8");
  }
  return null;
}

/** "evil.example" from "evil.example:8474" (for the hint in a refusal). */
function hostOnly(host: string): string {
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "");
}

const REASONS: Record<number, string> = { 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable" };

export class AgentServer {
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly routes: Route[] = [];
  private readonly tokenDigest: Buffer | null;
  private readonly alive = new Map<WebSocket, number>();
  private pingTimer: NodeJS.Timeout | null = null;
  private shuttingDown = false;
  private bound: AddressInfo | null = null;
  private readonly hosts: HostAllowList;

  constructor(private readonly opts: AgentServerOptions) {
    this.tokenDigest = opts.token ? digest(opts.token) : null;
    const hp = parseHostPort(opts.control);
    this.hosts = new HostAllowList(opts.allowHosts ?? [], typeof hp === "string" ? undefined : hp.host);
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.onRequest(req, res);
    this.server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : createHttpServer(handler);
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      opts.log.debug({ err: err.message }, "bad HTTP request");
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      else socket.destroy();
    });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      clientTracking: false,
      perMessageDeflate: false,
      // a browser offering the token as a subprotocol gets "netimpair" back, never the token
      handleProtocols: (protocols) => (protocols.has(CONTROL_SUBPROTOCOL) ? CONTROL_SUBPROTOCOL : false),
    });
  }

  /** Mounts an HTTP route (a path prefix, or a matcher), consulted before the 404. */
  addRoute(match: RouteMatcher, handler: RouteHandler, options: RouteOptions = {}): void {
    this.routes.push({ match, handler, auth: options.auth ?? true });
  }

  /** Listens; refuses a non-loopback address without a token unless insecure. */
  async start(): Promise<void> {
    const hp = parseHostPort(this.opts.control);
    if (typeof hp === "string") throw new Error(`control address: ${hp}`);
    if (!isLoopbackHost(hp.host) && !this.opts.token && !this.opts.insecure)
      throw new Error(
        `refusing to serve control on non-loopback address ${this.opts.control} without a token: give --token-file (or tokenFile in the config), or --insecure to accept anyone who can reach it`,
      );
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      this.server.listen(hp.port, hp.host, () => {
        this.server.off("error", onError);
        resolve();
      });
    });
    this.server.on("error", (err) => this.opts.log.error({ err: err.message }, "control server error"));
    this.bound = this.server.address() as AddressInfo;
    this.hosts.addBound(this.bound.address);
    const interval = this.opts.pingIntervalMs ?? PING_INTERVAL_MS;
    this.pingTimer = setInterval(() => this.pingAll(), interval);
    this.pingTimer.unref();
  }

  /** Bound HOST:PORT. */
  get address(): string {
    if (!this.bound) return this.opts.control;
    return formatHostPort(this.bound.address, this.bound.port);
  }

  /** http(s)://HOST:PORT, with a connectable host when bound to every interface. */
  get httpUrl(): string {
    const host = this.bound?.address ?? "127.0.0.1";
    const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
    return `${this.opts.tls ? "https" : "http"}://${formatHostPort(reachable, this.bound?.port ?? 0)}`;
  }

  /** ws(s)://HOST:PORT/control */
  get url(): string {
    return this.httpUrl.replace(/^http/, "ws") + "/control";
  }

  get controlConnections(): number {
    return this.alive.size;
  }

  /** /healthz answers 503 from now on, and new control connections are refused. */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  /** Closes every control connection and the listener. */
  async close(): Promise<void> {
    this.shuttingDown = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    for (const ws of this.alive.keys()) {
      try {
        ws.close(1001, "agent shutting down");
      } catch {
        ws.terminate();
      }
    }
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    // give close frames a moment, then cut what is left
    // not unref(): with every socket closed this timer is all that keeps the process alive
    // until close() resolves (unref made `netimpair agent` exit 13 on SIGTERM)
    await new Promise((r) => setTimeout(r, 50));
    for (const ws of this.alive.keys()) ws.terminate();
    this.server.closeAllConnections();
    if (this.bound) await closed;
    this.wss.close();
  }

  private pingAll(): void {
    const silentMs = this.opts.silentCloseMs ?? SILENT_CLOSE_MS;
    const now = Date.now();
    for (const [ws, seen] of this.alive) {
      if (now - seen > silentMs) {
        this.opts.log.warn({ event: "control.silent" }, "control connection silent too long, terminating");
        ws.terminate();
        continue;
      }
      try {
        ws.ping();
      } catch {
        ws.terminate();
      }
    }
  }

  /** The request's own origin (scheme://Host), which a page the agent served sends. */
  private ownOrigin(req: IncomingMessage): string | null {
    const host = req.headers.host;
    return host ? `${this.opts.tls ? "https" : "http"}://${host.toLowerCase()}` : null;
  }

  /**
   * null when allowed, else the HTTP status to refuse with and why. `checkHost` is false only
   * for /healthz; `upgrade` lets a browser's WebSocket carry the token as a subprotocol.
   */
  private refusal(req: IncomingMessage, needsAuth: boolean, checkHost = true, upgrade = false): { status: number; message: string } | null {
    const host = req.headers.host;
    // a browser always sends Host; only a rebound name can make it one the agent does not know
    if (checkHost && host !== undefined && !this.hosts.allows(host))
      return {
        status: 403,
        message: `host ${JSON.stringify(host)} is not a name this agent answers to (DNS rebinding protection); if you reach the agent by that name, add it to allowHosts in the config or start the agent with --allow-host ${hostOnly(host)}`,
      };
    const origin = req.headers.origin;
    if (origin !== undefined && !this.opts.allowOrigins.includes(origin) && origin.toLowerCase() !== this.ownOrigin(req))
      return { status: 403, message: `origin ${JSON.stringify(origin)} is not allowed (start the agent with --allow-origin ${origin} to allow it)` };
    if (needsAuth && this.tokenDigest) {
      const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
      const token = m ? m[1]!.trim() : upgrade ? subprotocolToken(req) : null;
      if (token === null || !timingSafeEqual(digest(token), this.tokenDigest))
        return { status: 401, message: "missing or wrong bearer token (send Authorization: Bearer TOKEN)" };
    }
    return null;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://agent");
    } catch {
      return this.send(res, 400, { error: "bad request URL" });
    }
    try {
      if (url.pathname === "/healthz") {
        const refused = this.refusal(req, false, false);
        if (refused) return this.send(res, refused.status, { error: refused.message });
        if (this.shuttingDown) return this.send(res, 503, { status: "shutting down" });
        return this.send(res, 200, { status: "ok" });
      }
      const route = this.routes.find((r) => (typeof r.match === "string" ? url.pathname === r.match || url.pathname.startsWith(r.match.endsWith("/") ? r.match : r.match + "/") : r.match(req, url)));
      const refused = this.refusal(req, route ? route.auth : true);
      if (refused) {
        if (refused.status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="netimpair"');
        return this.send(res, refused.status, { error: refused.message });
      }
      if (url.pathname === "/metrics") {
        if (req.method !== "GET" && req.method !== "HEAD") return this.send(res, 405, { error: "use GET /metrics" });
        const { contentType, body } = await this.opts.metrics();
        res.writeHead(200, { "Content-Type": contentType });
        res.end(req.method === "HEAD" ? undefined : body);
        return;
      }
      if (url.pathname === "/control") return this.send(res, 426, { error: "GET /control must be a WebSocket upgrade" });
      if (route) return await route.handler(req, res, url);
      return this.send(res, 404, { error: `no such path: ${url.pathname}` });
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message, path: url.pathname }, "HTTP handler failed");
      if (!res.headersSent) this.send(res, 500, { error: "internal error" });
      else res.destroy();
    }
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    // Every error answer is the documented {error, status} body.
    const withStatus = typeof body === "object" && body !== null && "error" in body ? { ...body, status } : body;
    const text = JSON.stringify(withStatus) + "\n";
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  }

  private reject(socket: Duplex, status: number, message: string, extra = ""): void {
    const body = JSON.stringify({ error: message, status }) + "\n";
    socket.on("error", () => undefined);
    socket.end(
      `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
    );
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => undefined);
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://agent").pathname;
    } catch {
      return this.reject(socket, 404, "bad request URL");
    }
    if (path !== "/control") return this.reject(socket, 404, `no WebSocket at ${path}; use /control`);
    const refused = this.refusal(req, true, true, true);
    if (refused) return this.reject(socket, refused.status, refused.message, refused.status === 401 ? 'WWW-Authenticate: Bearer realm="netimpair"\r\n' : "");
    if (this.shuttingDown) return this.reject(socket, 503, "agent is shutting down");
    if (this.alive.size >= this.opts.maxControlConnections)
      return this.reject(socket, 503, `too many control connections (limit ${this.opts.maxControlConnections})`);
    const peer = peerOf(req);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.shuttingDown) return ws.terminate();
      this.alive.set(ws, Date.now());
      const touch = () => this.alive.has(ws) && this.alive.set(ws, Date.now());
      ws.on("pong", touch);
      ws.on("message", touch);
      ws.on("ping", touch);
      ws.on("close", () => this.alive.delete(ws));
      ws.on("error", (err) => this.opts.log.debug({ err: err.message, peer }, "control connection error"));
      try {
        this.opts.onControl(ws, peer);
      } catch (err) {
        this.opts.log.error({ err: (err as Error).message, peer }, "control session setup failed");
        ws.terminate();
      }
    });
  }
}
