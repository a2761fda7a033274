// Starts a whole agent in this process: profiles, proxies (with their start profiles), the
// HTTP(S) control port. The library's startAgent and the CLI's `netimpair agent` both use it.
import type { ProtocolName } from "../requests/rule.js";
import type { ProxyTlsSpec } from "../control/protocol.js";
import type { DestinationStream } from "pino";
import { ProfileRegistry } from "../profiles/registry.js";
import { Agent } from "./agent.js";
import { AgentError } from "./errors.js";
import { AgentServer, type RouteHandler, type RouteMatcher, type RouteOptions } from "./server.js";
import { attachControlSession, type RateLimit } from "./control.js";
import { createLogger, type Logger } from "./log.js";
import { DEFAULT_MAX_CONTROL_CONNECTIONS, type LogLevel, type ProxyConfig } from "./config.js";
import { mountToxiproxyApi } from "../toxiproxy/api.js";
import { mountDashboard } from "../dashboard/serve.js";
import { defaultStateDir, type CaSource } from "../tls/agent-ca.js";

export interface StartAgentProxy {
  name: string;
  listen: string;
  upstream: string;
  /** a profile applied at start */
  profile?: string;
  enabled?: boolean;
  maxConnections?: number;
  protocol?: ProtocolName;
  /** udp and dns proxies: ms a flow may stay silent before it closes (default 60 s) */
  udpIdleMs?: number;
  /** udp and dns proxies: flows at most (default 1024) */
  udpMaxFlows?: number;
  /** TLS on either side (docs/tls.md): file paths, or PEM text */
  tls?: ProxyTlsSpec;
  /** where relative paths in `tls` start (a config file's folder), default the cwd */
  tlsBaseDir?: string;
}

export interface StartAgentOptions {
  /** HOST:PORT of the control port (default 127.0.0.1:0 = pick a port) */
  control?: string;
  proxies?: StartAgentProxy[];
  /** extra profile directories (the built-ins are always loaded) */
  profiles?: string | string[];
  /** require `Authorization: Bearer TOKEN` */
  token?: string | null;
  labels?: Record<string, string>;
  /** default "silent" */
  logLevel?: LogLevel;
  /** where logs go (default stdout) */
  logDestination?: DestinationStream;
  tls?: { cert: string | Buffer; key: string | Buffer } | null;
  allowOrigins?: string[];
  /** host names the agent answers to besides loopback names, IP literals and its bound address
   * (DNS rebinding protection; ".example.com" = the domain and its subdomains, "*" = any) */
  allowHosts?: string[];
  /** allow serving control on a non-loopback address without a token */
  insecure?: boolean;
  maxControlConnections?: number;
  /** writes a second the links make before they merge segments (default 2000; 0: never; link/moderation.ts) */
  linkWriteBudget?: number;
  rateLimit?: RateLimit;
  pingIntervalMs?: number;
  silentCloseMs?: number;
  id?: string;
  /** where the agent's CA is kept (made on first need; default $XDG_STATE_HOME/netimpair or ~/.local/state/netimpair) */
  stateDir?: string;
  /** the agent's CA given as files (instead of one under stateDir) */
  ca?: { cert: string; key: string };
}

export interface RunningAgent {
  /** ws(s)://HOST:PORT/control */
  url: string;
  /** http(s)://HOST:PORT */
  httpUrl: string;
  agent: Agent;
  log: Logger;
  /** mount an extra HTTP route on the agent's port (consulted before the 404) */
  addRoute(match: RouteMatcher, handler: RouteHandler, options?: RouteOptions): void;
  /** /healthz answers 503 from now on */
  beginShutdown(): void;
  /** stop accepting, close every control connection and proxy */
  close(): Promise<void>;
}

function describe(err: unknown): string {
  if (err instanceof AgentError && Array.isArray(err.data) && err.data.length) return (err.data as { path: string; message: string }[]).map((e) => `${e.path.replace(/^params\./, "")}: ${e.message}`).join("; ");
  return err instanceof Error ? err.message : String(err);
}

export async function startAgent(options: StartAgentOptions = {}): Promise<RunningAgent> {
  const log = createLogger(options.logLevel ?? "silent", options.logDestination);
  const dirs = options.profiles === undefined ? [] : Array.isArray(options.profiles) ? options.profiles : [options.profiles];
  const registry = await ProfileRegistry.load(dirs);
  for (const problem of registry.loadErrors) log.warn({ event: "profile.load" }, problem);
  const ca: CaSource = options.ca !== undefined ? { certFile: options.ca.cert, keyFile: options.ca.key } : { stateDir: options.stateDir ?? defaultStateDir() };
  const agent = new Agent({ registry, log, ca, ...(options.linkWriteBudget !== undefined ? { linkWriteBudget: options.linkWriteBudget } : {}), ...(options.labels ? { labels: options.labels } : {}), ...(options.id ? { id: options.id } : {}) });
  const server = new AgentServer({
    control: options.control ?? "127.0.0.1:0",
    token: options.token ?? null,
    tls: options.tls ? { cert: Buffer.from(options.tls.cert), key: Buffer.from(options.tls.key) } : null,
    allowOrigins: options.allowOrigins ?? [],
    allowHosts: options.allowHosts ?? [],
    insecure: options.insecure ?? false,
    maxControlConnections: options.maxControlConnections ?? DEFAULT_MAX_CONTROL_CONNECTIONS,
    log,
    metrics: () => agent.metrics.render(),
    onControl: (ws, peer) => attachControlSession(ws, peer, { agent, log, ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}) }),
    ...(options.pingIntervalMs !== undefined ? { pingIntervalMs: options.pingIntervalMs } : {}),
    ...(options.silentCloseMs !== undefined ? { silentCloseMs: options.silentCloseMs } : {}),
  });
  // Toxiproxy's REST API on the same port, so Toxiproxy clients work unchanged
  mountToxiproxyApi({ agent, addRoute: (match, handler, opts) => server.addRoute(match, handler, opts) });
  // the web dashboard at GET / (it drives the agent over the control channel like any client)
  mountDashboard(server);
  try {
    // proxies (and their profiles) are up before /healthz answers
    for (const [i, p] of (options.proxies ?? []).entries()) {
      try {
        await agent.createProxy({
          name: p.name,
          listen: p.listen,
          upstream: p.upstream,
          enabled: p.enabled ?? true,
          maxConnections: p.maxConnections ?? 0,
          protocol: p.protocol ?? "tcp",
          ...(p.tls !== undefined ? { tls: p.tls } : {}),
          ...(p.tlsBaseDir !== undefined ? { tlsBaseDir: p.tlsBaseDir } : {}),
          ...udpOptions(p),
        });
        if (p.profile !== undefined) agent.apply({ proxy: p.name, profile: p.profile, who: "config" });
      } catch (err) {
        throw new Error(`proxies[${i}] (${p.name}): ${describe(err)}`);
      }
    }
    await server.start();
  } catch (err) {
    await agent.close().catch(() => undefined);
    await server.close().catch(() => undefined);
    throw err;
  }
  log.info({ event: "agent.start", id: agent.id, version: agent.version, control: server.address, proxies: agent.proxyNames() }, "agent started");
  let closing: Promise<void> | null = null;
  return {
    url: server.url,
    httpUrl: server.httpUrl,
    agent,
    log,
    addRoute: (match, handler, opts) => server.addRoute(match, handler, opts),
    beginShutdown: () => server.beginShutdown(),
    close: () =>
      (closing ??= (async () => {
        server.beginShutdown();
        await Promise.allSettled([server.close(), agent.close()]);
        log.info({ event: "agent.stop" }, "agent stopped");
        log.flush?.();
      })()),
  };
}

/** Config proxies as startAgent takes them. */
export function toStartProxies(proxies: ProxyConfig[]): StartAgentProxy[] {
  return proxies.map((p) => ({
    name: p.name,
    listen: p.listen,
    upstream: p.upstream,
    enabled: p.enabled,
    maxConnections: p.maxConnections,
    protocol: p.protocol,
    ...(p.profile !== undefined ? { profile: p.profile } : {}),
    ...(p.tls !== undefined ? { tls: p.tls } : {}),
    ...(p.tlsBaseDir !== undefined ? { tlsBaseDir: p.tlsBaseDir } : {}),
    ...udpOptions(p),
  }));
}

function udpOptions(p: { udpIdleMs?: number | undefined; udpMaxFlows?: number | undefined }): { udpIdleMs?: number; udpMaxFlows?: number } {
  return { ...(p.udpIdleMs !== undefined ? { udpIdleMs: p.udpIdleMs } : {}), ...(p.udpMaxFlows !== undefined ? { udpMaxFlows: p.udpMaxFlows } : {}) };
}
