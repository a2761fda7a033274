// The agent: its proxies (engine Proxy objects), the profile registry and the impairment book.
// The control channel calls these methods; every failure is an AgentError (code + message +
// field errors), never a crash.
import { EventEmitter } from "node:events";
import { VERSION } from "../version.js";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { Proxy, ProxyError, type ConnCloseInfo, type FaultEvent, type ProxyTls, type TlsFailureEvent } from "../relay/proxy.js";
import { AgentCa, CaError, defaultStateDir, type CaSource } from "../tls/agent-ca.js";
import { checkTlsSpec, loadTls, mergeTls, TlsSettingError } from "../tls/settings.js";
import { ClientCertificates } from "../tls/wrap.js";
import { tlsUnsupported } from "../tls/protocols.js";
import type { RequestEvent, RequestsOffEvent } from "../requests/events.js";
import { PROTOCOLS, type ProtocolName } from "../requests/rule.js";
import { parseHostPort } from "../relay/address.js";
import { ProfileRegistry } from "../profiles/registry.js";
import { resolveImpairment } from "../profiles/resolve.js";
import type { ImpairmentSpec, ResolvedProfile } from "../profiles/types.js";
import type { ProxyTlsSpec, SetOverrides, AgentInfo, ApplyResult, ConnInfo, FieldError, ImpairmentEventData, ImpairmentState, ProxyInfo, RemovedImpairment, ToxicInfo } from "../control/protocol.js";
import { ImpairmentBook, realTimers, type ChangeCause, type Timers } from "./impairments.js";
import { AgentMetrics, type MeteredProxy } from "./metrics.js";
import { checkProxyName } from "./config.js";
import { AgentError, cancelled, conflict, invalidParams, notFound } from "./errors.js";
import { logConnClose, logImpairmentChange, logToxicChange, type Logger } from "./log.js";
import { FaultLog } from "./fault-log.js";
import { WriteModeration, WRITE_BUDGET } from "../link/moderation.js";
import { monotonicNow } from "../clock.js";

export { VERSION };

export interface AgentOptions {
  registry: ProfileRegistry;
  log: Logger;
  id?: string;
  labels?: Record<string, string>;
  timers?: Timers;
  /** where the agent's CA lives (default: the state folder, made on first need) */
  ca?: CaSource;
  /** writes a second the links make before they merge segments (default WRITE_BUDGET; 0: never) */
  linkWriteBudget?: number;
}

export interface CreateProxyRequest {
  name: string;
  listen: string;
  upstream: string;
  enabled?: boolean;
  maxConnections?: number;
  /** default tcp */
  protocol?: ProtocolName;
  /** udp and dns proxies: ms a flow may stay silent before it closes (default 60 s) */
  udpIdleMs?: number;
  /** udp and dns proxies: flows at most (default 1024; the one idle the longest is evicted) */
  udpMaxFlows?: number;
  /** TLS on either side (unchecked: the agent checks it, naming params.tls...) */
  tls?: unknown;
  /** the folder relative file paths in `tls` start from (a config file's), default the cwd */
  tlsBaseDir?: string;
}

export interface ApplyRequest {
  /** a proxy name or "*" */
  proxy: string;
  profile?: string;
  spec?: unknown;
  set?: Record<string, unknown>;
  ttlMs?: number | null;
  /** 0..100 */
  percent?: number;
  /** CIDR strings, already checked */
  clients?: string[];
  /** bind to this control session (reverted when it ends) */
  session?: string | null;
  /** who asked (peer address), for the log */
  who: string;
}

export interface ResolvedImpairment {
  profile: string;
  spec: ImpairmentSpec;
  /** the overrides that went into spec, shown with the profile */
  set?: SetOverrides;
}

/** Why a control session's run was cancelled (sent to it as a `session.cancelled` notification). */
export interface SessionCancel {
  cause: "panic" | "clear";
  /** who asked (peer address) */
  by: string;
  proxies: string[];
  message: string;
}

/** A connection of some proxy (conn.list with proxy "*"). */
export type ProxyConnInfo = ConnInfo & { proxy: string };

/**
 * Impairments kept outside the impairment book: the Toxiproxy API's toxics. The agent lists
 * them with each proxy and removes them on clear and panic, so the kill switch misses nothing.
 */
export interface ToxicSource {
  list(proxy: string): ToxicInfo[];
  /** removes every toxic of the proxy; returns the toxics removed */
  clear(proxy: string): ToxicInfo[];
}

export interface AgentEvents {
  /** a proxy's impairment or toxics changed */
  impairment: [proxy: string, data: ImpairmentEventData];
  "conn-open": [proxy: string, info: ConnInfo];
  "conn-close": [proxy: string, info: ConnCloseInfo];
  fault: [proxy: string, event: FaultEvent];
  request: [proxy: string, event: RequestEvent];
  "proxy-added": [proxy: string];
  "proxy-removed": [proxy: string];
}

/** Prefixes field paths with "params." (the control channel names request fields that way). */
export function underParams(errors: FieldError[]): FieldError[] {
  return errors.map((e) => ({ ...e, path: e.path.startsWith("params") ? e.path : `params.${e.path}` }));
}

export class Agent extends EventEmitter<AgentEvents> {
  /** one budget of link writes for all the agent's proxies (link/moderation.ts) */
  readonly moderation: WriteModeration;
  readonly id: string;
  readonly version = VERSION;
  readonly labels: Record<string, string>;
  readonly startedAt = Date.now();
  readonly registry: ProfileRegistry;
  readonly metrics: AgentMetrics;
  private readonly log: Logger;
  private readonly faultLog: FaultLog;
  private readonly proxies = new Map<string, Proxy>();
  /** names being created (listening not yet done): reserved, not yet in the table */
  private readonly creating = new Map<string, Proxy>();
  private readonly book: ImpairmentBook;
  /** sessions that have bound an apply, until they close */
  private readonly binding = new Set<string>();
  /** sessions cancelled by a panic or clear: their bound applies are refused until they close */
  private readonly cancelledSessions = new Map<string, SessionCancel>();
  /** control sessions told when they are cancelled */
  private readonly cancelHooks = new Map<string, (c: SessionCancel) => void>();
  private toxicSource: ToxicSource | null = null;
  /** control sessions subscribed to every request (topic requests, requests: "all") */
  private requestWatchers = 0;
  /** who is acting, for the impairment-change log line */
  private actor = "agent";
  private actorTtl: number | null = null;
  private actorBound = false;
  private readonly caSource: CaSource;
  private ca: Promise<AgentCa> | null = null;
  /** TLS failure codes already logged, per proxy (each is logged once, all are counted) */
  private readonly tlsSaid = new Map<string, Set<string>>();

  constructor(opts: AgentOptions) {
    super();
    // each control session subscribed to events listens here (3 listeners each); their number
    // is bounded by maxControlConnections, so the default of 10 would only warn falsely
    this.setMaxListeners(0);
    this.id = opts.id ?? `${hostname()}-${randomBytes(3).toString("hex")}`;
    this.labels = { ...(opts.labels ?? {}) };
    this.registry = opts.registry;
    this.log = opts.log;
    this.faultLog = new FaultLog(opts.log);
    this.book = new ImpairmentBook((proxy, state, cause) => this.onImpairmentChange(proxy, state, cause), opts.timers ?? realTimers);
    this.moderation = new WriteModeration(monotonicNow, opts.linkWriteBudget ?? WRITE_BUDGET);
    this.metrics = new AgentMetrics(
      () => this.metered(),
      () => this.moderation.segmentsPerWrite,
    );
    this.caSource = opts.ca ?? { stateDir: defaultStateDir() };
  }

  /** The agent's CA, loaded (or made and saved) on first need. */
  agentCa(): Promise<AgentCa> {
    if (this.ca === null) {
      const opening = AgentCa.open(this.caSource).then((ca) => {
        this.log.info({ event: "tls.ca", file: ca.origin, created: ca.created }, ca.created ? "agent CA created" : "agent CA loaded");
        return ca;
      });
      // a failure is not kept: the next need tries again (a folder made writable meanwhile)
      opening.catch(() => {
        if (this.ca === opening) this.ca = null;
      });
      this.ca = opening;
    }
    return this.ca;
  }

  /** agent.ca: the CA's certificate (PEM); the key never leaves the agent. */
  async caCertificate(): Promise<{ certificate: string }> {
    try {
      return { certificate: (await this.agentCa()).certificate };
    } catch (err) {
      throw new AgentError(-32603, err instanceof CaError ? err.message : String(err));
    }
  }

  /** Checks and loads a proxy's tls param (its CA made if needed); field errors name params.tls... */
  private async proxyTls(name: string, protocol: ProtocolName, value: unknown, baseDir: string | undefined, proxy: () => Proxy | undefined): Promise<ProxyTls | null> {
    if (value === undefined || value === null) return null;
    const checked = checkTlsSpec(value, "params.tls");
    if (checked.spec === null) throw invalidParams(checked.errors.map((e) => ({ ...e, message: `proxy ${name}: ${e.message}` })));
    const refused = tlsUnsupported(protocol, { client: checked.spec.client != null, upstream: checked.spec.upstream != null });
    if (refused !== null) throw invalidParams([{ path: `params.tls.${refused.side}`, message: `proxy ${name}: ${refused.side} side: ${refused.why}` }]);
    let loaded;
    try {
      loaded = await loadTls(checked.spec, "params.tls", baseDir);
    } catch (err) {
      if (err instanceof TlsSettingError) throw invalidParams(err.errors.map((e) => ({ ...e, message: `proxy ${name}: ${e.path.includes(".client") ? "client side" : "upstream side"}: ${e.message}` })));
      throw err;
    }
    let clientCerts: ClientCertificates | null = null;
    if (loaded.client !== null) {
      let ca: AgentCa | null = null;
      if (loaded.client.auto) {
        try {
          ca = await this.agentCa();
        } catch (err) {
          throw invalidParams([{ path: "params.tls.client", message: `proxy ${name}: client side: ${err instanceof Error ? err.message : String(err)}` }]);
        }
      }
      clientCerts = new ClientCertificates(loaded.client, ca, () => {
        const listen = proxy()?.listen ?? "127.0.0.1:0";
        return listen.startsWith("[") ? listen.slice(1, listen.lastIndexOf("]")) : listen.slice(0, listen.lastIndexOf(":"));
      });
    }
    if (loaded.upstream !== null && !loaded.upstream.verify) this.log.warn({ event: "tls.insecure", proxy: name }, "upstream TLS is not verified (tls.upstream: insecure)");
    return { loaded, clientCerts };
  }

  private onTlsFailure(proxy: string, ev: TlsFailureEvent): void {
    let said = this.tlsSaid.get(proxy);
    if (said === undefined) this.tlsSaid.set(proxy, (said = new Set()));
    const key = `${ev.side}:${ev.code}`;
    if (said.has(key) || said.size >= 64) return;
    said.add(key);
    this.log.warn({ event: "tls.failure", proxy, side: ev.side, client: ev.client, code: ev.code, reason: ev.message }, `proxy ${proxy}: ${ev.side} side TLS failed: ${ev.message} (logged once per cause; counted in stats.tlsFailures)`);
  }

  // ------------------------------------------------------------------ proxies

  has(name: string): boolean {
    return this.proxies.has(name);
  }

  proxyNames(): string[] {
    return [...this.proxies.keys()];
  }

  /** The engine object (for modules such as the Toxiproxy API). */
  getProxy(name: string): Proxy | undefined {
    return this.proxies.get(name);
  }

  info(): AgentInfo {
    return {
      id: this.id,
      version: this.version,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 100) / 10,
      labels: { ...this.labels },
      proxies: this.listProxies(),
    };
  }

  /**
   * A control session starts (true) or stops (false) watching every request: while any does,
   * the proxies' request layers name and time forwarded requests too (they cost nothing otherwise).
   */
  watchAllRequests(on: boolean): void {
    this.requestWatchers = Math.max(0, this.requestWatchers + (on ? 1 : -1));
    for (const p of this.proxies.values()) p.tracing = this.requestWatchers > 0;
  }

  listProxies(): ProxyInfo[] {
    return [...this.proxies.keys()].map((name) => this.proxyInfo(name));
  }

  proxyInfo(name: string): ProxyInfo {
    const p = this.mustGet(name);
    const tls = p.tls?.loaded.spec;
    return { name: p.name, listen: p.listen, upstream: p.upstream, protocol: p.protocol, enabled: p.enabled, impairment: this.book.get(name), toxics: this.toxics(name), stats: p.stats(), ...(tls !== undefined ? { tls } : {}) };
  }

  async createProxy(req: CreateProxyRequest): Promise<ProxyInfo> {
    const errors: FieldError[] = [];
    const nameError = checkProxyName(req.name);
    if (nameError) errors.push({ path: "params.name", message: nameError });
    for (const key of ["listen", "upstream"] as const) {
      const hp = parseHostPort(req[key]);
      if (typeof hp === "string") errors.push({ path: `params.${key}`, message: hp });
    }
    if (req.protocol !== undefined && !PROTOCOLS.includes(req.protocol)) errors.push(protocolError(req.protocol));
    if (errors.length) throw invalidParams(errors);
    if (this.proxies.has(req.name)) throw conflict(`proxy ${JSON.stringify(req.name)} already exists`);
    if (this.creating.has(req.name)) throw conflict(`proxy ${JSON.stringify(req.name)} is being created`);
    let created: Proxy | undefined;
    const tls = await this.proxyTls(req.name, req.protocol ?? "tcp", req.tls, req.tlsBaseDir, () => created);
    let timerProtocol = "";
    let timer: (seconds: number, count?: number) => void = () => undefined;
    // bound on the first delay observed (a series shows once it has one, as prom-client's do)
    let delayUp: ((seconds: number) => void) | null = null;
    let delayDown: ((seconds: number) => void) | null = null;
    const proxy: Proxy = new Proxy({
      tls,
      moderation: this.moderation,
      name: req.name,
      listen: req.listen,
      upstream: req.upstream,
      enabled: req.enabled ?? true,
      maxConnections: req.maxConnections ?? 0,
      protocol: req.protocol ?? "tcp",
      ...(req.udpIdleMs !== undefined ? { udpIdleMs: req.udpIdleMs } : {}),
      ...(req.udpMaxFlows !== undefined ? { udpMaxFlows: req.udpMaxFlows } : {}),
      onRequestDuration: (seconds, count) => {
        // bound per protocol: a proxy.update may change it
        if (timerProtocol !== proxy.protocol) {
          timerProtocol = proxy.protocol;
          timer = this.metrics.requestTimer(req.name, timerProtocol);
        }
        timer(seconds, count);
      },
      onDelay: (direction, seconds) => {
        if (direction === "up") (delayUp ??= this.metrics.delayObserver(req.name, "up"))(seconds);
        else (delayDown ??= this.metrics.delayObserver(req.name, "down"))(seconds);
      },
    });
    created = proxy;
    // the name is reserved while listening (a host name is looked up first), so two concurrent
    // creates cannot both win; the proxy joins the table only once it listens, so nothing
    // (delete, update, apply) can act on a proxy whose listener is not there yet
    this.creating.set(req.name, proxy);
    try {
      await proxy.start();
    } catch (err) {
      await proxy.close().catch(() => undefined);
      throw this.listenError(err, req.listen);
    } finally {
      this.creating.delete(req.name);
    }
    this.book.forget(req.name);
    this.proxies.set(req.name, proxy);
    proxy.tracing = this.requestWatchers > 0;
    proxy.on("open", (info: ConnInfo) => this.emit("conn-open", req.name, info));
    proxy.on("close", (info: ConnCloseInfo) => {
      this.faultLog.connectionClosed(req.name, info.id);
      logConnClose(this.log, {
        proxy: req.name,
        conn: info.id,
        client: info.client,
        bytesUp: info.bytesUp,
        bytesDown: info.bytesDown,
        durationMs: info.durationMs,
        faults: info.faults,
        error: info.error,
      });
      this.emit("conn-close", req.name, info);
    });
    proxy.on("fault", (ev: FaultEvent) => {
      this.faultLog.record(req.name, ev);
      this.emit("fault", req.name, ev);
    });
    proxy.on("request", (ev: RequestEvent) => {
      if (ev.rule !== undefined)
        this.log.info({ event: "request_fault", proxy: req.name, conn: ev.conn, client: ev.client, protocol: ev.protocol, outcome: ev.outcome, rule: ev.rule, request: ev.request }, "request fault injected");
      this.emit("request", req.name, ev);
    });
    proxy.on("requestsOff", (ev: RequestsOffEvent) => {
      this.log.info({ event: "requests_off", proxy: req.name, conn: ev.conn, client: ev.client, protocol: ev.protocol, reason: ev.reason }, "request faults off for a connection");
    });
    proxy.on("tlsFailure", (ev: TlsFailureEvent) => this.onTlsFailure(req.name, ev));
    proxy.on("error", (err: Error) => this.log.error({ proxy: req.name, err: err.message }, "proxy error"));
    this.log.info({ event: "proxy.create", proxy: req.name, listen: proxy.listen, upstream: proxy.upstream, protocol: proxy.protocol, enabled: proxy.enabled, ...(tls !== null ? { tls: tls.loaded.spec } : {}) }, "proxy created");
    this.emit("proxy-added", req.name);
    return this.proxyInfo(req.name);
  }

  /**
   * Changes a proxy in place: upstream, enabled, listen (Toxiproxy's listen change). Its
   * impairment (owner, ttl, revert target), overlay and counters stay. A disable runs before a
   * move and an enable after it, so a disabled proxy never listens on the way.
   */
  async updateProxy(req: { name: string; upstream?: string; enabled?: boolean; listen?: string; protocol?: ProtocolName; tls?: unknown }): Promise<ProxyInfo> {
    const p = this.mustGet(req.name);
    // checked and loaded first: a bad certificate changes nothing
    const tls = req.tls !== undefined ? await this.proxyTls(req.name, req.protocol ?? p.protocol, mergeTls(p.tls?.loaded.source ?? null, req.tls), undefined, () => p) : undefined;
    // TLS removed before a protocol that cannot have it is set; set after the protocol it fits
    if (tls === null) p.setTls(null);
    if (req.protocol !== undefined) {
      if (!PROTOCOLS.includes(req.protocol)) throw invalidParams([protocolError(req.protocol)]);
      try {
        p.setProtocol(req.protocol);
      } catch (err) {
        if (err instanceof ProxyError) throw invalidParams(err.fields.length > 0 ? underParams(err.fields) : [{ path: "params.protocol", message: err.message }]);
        throw err;
      }
    }
    for (const key of ["upstream", "listen"] as const) {
      const value = req[key];
      if (value === undefined) continue;
      const hp = parseHostPort(value);
      if (typeof hp === "string") throw invalidParams([{ path: `params.${key}`, message: hp }]);
    }
    const listenError = (err: unknown): AgentError => (err instanceof AgentError ? err : this.listenError(err, req.listen ?? p.listen));
    try {
      if (req.enabled === false) await p.setEnabled(false);
      if (req.listen !== undefined) await p.setListen(req.listen);
      if (req.enabled === true) await p.setEnabled(true);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ECLOSED") throw notFound(`proxy ${JSON.stringify(req.name)} was deleted meanwhile`);
      throw listenError(err);
    }
    if (req.upstream !== undefined) p.setUpstream(req.upstream);
    if (tls !== undefined && tls !== null) p.setTls(tls);
    this.log.info({ event: "proxy.update", proxy: req.name, listen: p.listen, upstream: p.upstream, protocol: p.protocol, enabled: p.enabled, ...(p.tls !== null ? { tls: p.tls.loaded.spec } : {}) }, "proxy updated");
    return this.proxyInfo(req.name);
  }

  async deleteProxy(name: string): Promise<void> {
    const p = this.mustGet(name);
    this.metrics.sync(); // fold its last counts in before it goes
    this.proxies.delete(name);
    this.book.forget(name);
    this.tlsSaid.delete(name);
    await p.close();
    this.metrics.sync();
    this.metrics.forget(name);
    this.log.info({ event: "proxy.delete", proxy: name }, "proxy deleted");
    this.emit("proxy-removed", name);
  }

  /** Names a request's `proxy` covers: one (must exist) or every proxy for "*". */
  targets(proxy: string): string[] {
    if (proxy === "*") return this.proxyNames();
    this.mustGet(proxy);
    return [proxy];
  }

  // ------------------------------------------------------------------ impairments

  /** Resolves profile <- spec <- set into one spec; throws -32004 for an unknown profile, -32602 with paths. */
  resolve(req: { profile?: string; spec?: unknown; set?: Record<string, unknown> }): ResolvedImpairment {
    const resolved = resolveImpairment(this.registry, {
      ...(req.profile !== undefined ? { profile: req.profile } : {}),
      ...(req.spec !== undefined ? { spec: req.spec } : {}),
      ...(req.set !== undefined ? { set: req.set } : {}),
    });
    if (!resolved.ok) {
      if (resolved.notFound !== undefined) throw this.profileNotFound(resolved.notFound);
      throw invalidParams(underParams(resolved.errors));
    }
    const set = req.set !== undefined && Object.keys(req.set).length > 0 ? (req.set as SetOverrides) : undefined;
    return { profile: resolved.profile, spec: resolved.spec, ...(set ? { set } : {}) };
  }

  /** Applies to one proxy or "*" (resolving profile, spec and set first). One result per proxy. */
  apply(req: ApplyRequest): ApplyResult[] {
    const targets = this.targets(req.proxy);
    return this.applyResolved(targets, this.resolve(req), req);
  }

  /** Applies an already resolved impairment to the named proxies. */
  applyResolved(targets: string[], resolved: ResolvedImpairment, req: Omit<ApplyRequest, "proxy" | "profile" | "spec" | "set">): ApplyResult[] {
    for (const name of targets) {
      const p = this.mustGet(name);
      try {
        p.checkSpec(resolved.spec);
      } catch (err) {
        if (err instanceof ProxyError) throw invalidParams(err.fields.length > 0 ? underParams(err.fields) : [{ path: "params.spec", message: err.message }]);
        throw err;
      }
    }
    const session = req.session ?? null;
    if (session !== null) {
      const c = this.cancelledSessions.get(session);
      if (c) throw cancelled(`${c.message}; bound applies of this session are refused (unbound ones still work; a new session starts afresh)`);
      this.binding.add(session);
    }
    const results: ApplyResult[] = [];
    this.actor = req.who;
    this.actorTtl = req.ttlMs ?? null;
    this.actorBound = !!req.session;
    try {
      for (const name of targets) {
        const state = this.book.apply(
          name,
          { profile: resolved.profile, spec: resolved.spec, percent: req.percent ?? 100, clients: req.clients ?? [], ...(resolved.set ? { set: resolved.set } : {}) },
          { ttlMs: req.ttlMs ?? null, session: req.session ?? null },
        );
        results.push({ proxy: name, profile: state?.profile ?? resolved.profile, spec: resolved.spec, expiresAt: state?.expiresAt ?? this.expiry(req.ttlMs), ...(resolved.set ? { set: resolved.set } : {}) });
      }
    } finally {
      this.resetActor();
    }
    return results;
  }

  impairment(name: string): ImpairmentState | null {
    this.mustGet(name);
    return this.book.get(name);
  }

  /**
   * Clears one proxy or "*", Toxiproxy toxics included; one entry per proxy with what was
   * removed. Other sessions whose bound applies it removed are cancelled (a run's remaining
   * steps and ramps stop at the agent); `session` is the asking session.
   */
  clear(proxy: string, who: string, session: string | null = null): RemovedImpairment[] {
    const targets = this.targets(proxy);
    const removed: RemovedImpairment[] = [];
    const bySession = new Map<string, string[]>();
    this.actor = who;
    try {
      for (const name of targets) {
        const profile = this.book.get(name)?.profile ?? null;
        // toxics first, so the one change event (from the book) shows the proxy as it ends up
        const toxics = this.clearToxics(name, who, "clear");
        for (const s of this.book.clear(name).sessions) bySession.set(s, [...(bySession.get(s) ?? []), name]);
        removed.push({ proxy: name, profile, toxics });
      }
    } finally {
      this.resetActor();
    }
    for (const [s, proxies] of bySession) {
      if (s !== session) this.cancelSession(s, { cause: "clear", by: who, proxies, message: `${proxies.join(", ")} cleared by ${who}` });
    }
    return removed;
  }

  /**
   * The kill switch: every proxy clean (Toxiproxy toxics removed too), pending ttls cancelled,
   * and every other session that bound an apply cancelled (its run's remaining steps and ramps
   * are refused at the agent). Returns every proxy (cleared) and what was taken off the ones
   * that were impaired (removed).
   */
  panic(who: string, session: string | null = null): { cleared: string[]; removed: RemovedImpairment[] } {
    const before = new Map(this.proxyNames().map((name) => [name, this.book.get(name)?.profile ?? null]));
    const toxics = new Map([...before.keys()].map((name) => [name, this.clearToxics(name, who, "panic")]));
    let announced: string[] = [];
    this.actor = who;
    let sessions: string[];
    try {
      const removal = this.book.panic();
      sessions = removal.sessions;
      announced = removal.proxies;
    } finally {
      this.resetActor();
    }
    const proxies = [...before.keys()];
    for (const s of new Set([...sessions, ...this.binding])) {
      if (s !== session) this.cancelSession(s, { cause: "panic", by: who, proxies, message: `netimpair panic by ${who}` });
    }
    const removed: RemovedImpairment[] = [];
    for (const [name, profile] of before) {
      const gone = toxics.get(name) ?? [];
      if (gone.length > 0 && !announced.includes(name)) this.emit("impairment", name, { who, cause: "panic", impairment: null, toxics: [] });
      if (profile !== null || gone.length > 0) removed.push({ proxy: name, profile, toxics: gone });
    }
    this.log.warn({ event: "panic", who, removed }, "panic: every impairment cleared");
    return { cleared: proxies, removed };
  }

  /** The Toxiproxy API's toxics: listed with each proxy, removed by clear and panic. */
  useToxics(source: ToxicSource): void {
    this.toxicSource = source;
  }

  /** A proxy's toxics changed through the Toxiproxy API: logged and announced like any impairment change. */
  toxicsChanged(proxy: string, change: { who: string; cause: "toxic.add" | "toxic.update" | "toxic.remove" | "toxiproxy.reset"; toxic?: ToxicInfo }): void {
    if (!this.proxies.has(proxy)) return;
    const toxics = this.toxics(proxy);
    logToxicChange(this.log, { proxy, who: change.who, cause: change.cause, toxic: change.toxic ?? null, toxics });
    this.emit("impairment", proxy, { who: change.who, cause: change.cause, impairment: this.book.get(proxy), toxics, ...(change.toxic ? { toxic: change.toxic } : {}) });
  }

  /** A control session ended: its bound impairments end together, each proxy straight back. */
  endSession(session: string, who: string): string[] {
    this.binding.delete(session);
    this.cancelledSessions.delete(session);
    this.cancelHooks.delete(session);
    this.actor = who;
    try {
      return this.book.endSession(session);
    } finally {
      this.resetActor();
    }
  }

  /** Tells `hook` when the session is cancelled by a panic or a clear (until endSession). */
  watchSession(session: string, hook: (c: SessionCancel) => void): void {
    this.cancelHooks.set(session, hook);
  }

  /** True when the session was cancelled (its bound applies are refused). */
  isCancelled(session: string): boolean {
    return this.cancelledSessions.has(session);
  }

  private cancelSession(session: string, c: SessionCancel): void {
    if (this.cancelledSessions.has(session)) return;
    this.cancelledSessions.set(session, c);
    this.log.warn({ event: "session.cancelled", cause: c.cause, by: c.by, proxies: c.proxies }, `a control session's bound applies were ${c.cause === "panic" ? "cleared by a panic" : "cleared"}: its run is cancelled`);
    try {
      this.cancelHooks.get(session)?.(c);
    } catch {
      // a session's notification never breaks a panic
    }
  }

  // ------------------------------------------------------------------ connections

  connections(proxy: string): ProxyConnInfo[] {
    return this.targets(proxy).flatMap((name) => this.mustGet(name).connections().map((c) => ({ ...c, proxy: name })));
  }

  resetConnections(proxy: string, id?: string): number {
    const targets = this.targets(proxy);
    if (id !== undefined) {
      const owner = targets.find((name) => this.mustGet(name).connections().some((c) => c.id === id));
      if (owner === undefined) throw notFound(`connection ${JSON.stringify(id)} not found on ${proxy === "*" ? "any proxy" : `proxy ${JSON.stringify(proxy)}`}`);
      return this.mustGet(owner).resetConnections(id);
    }
    return targets.reduce((n, name) => n + this.mustGet(name).resetConnections(), 0);
  }

  // ------------------------------------------------------------------ profiles

  profileNames(): string[] {
    return this.registry.names();
  }

  /** -32004 for an unknown profile: why its file failed to load when it did, else the known names. */
  private profileNotFound(name: string): AgentError {
    const failure = this.registry.loadFailure(name);
    if (failure !== undefined) return notFound(`profile ${JSON.stringify(name)} not found: its file failed to load: ${failure.join("; ")}`);
    return notFound(`profile ${JSON.stringify(name)} not found (known: ${this.registry.names().join(", ")})`);
  }

  getProfile(name: string): ResolvedProfile {
    const p = this.registry.get(name);
    if (!p) throw this.profileNotFound(name);
    return p;
  }

  defineProfile(raw: unknown): ResolvedProfile {
    const r = this.registry.define(raw);
    if (!r.ok) throw invalidParams(underParams(r.errors.map((e) => ({ ...e, path: e.path.startsWith("spec") ? e.path : `spec.${e.path}` }))));
    this.log.info({ event: "profile.define", profile: r.profile.name }, "profile defined");
    return r.profile;
  }

  // ------------------------------------------------------------------ lifecycle

  async close(): Promise<void> {
    this.book.dispose();
    this.cancelHooks.clear();
    this.faultLog.close();
    const all = [...this.proxies.values(), ...this.creating.values()];
    this.metrics.sync();
    await Promise.allSettled(all.map((p) => p.close()));
    this.proxies.clear();
  }

  // ------------------------------------------------------------------ internals

  private mustGet(name: string): Proxy {
    const p = this.proxies.get(name);
    if (!p && this.creating.has(name)) throw conflict(`proxy ${JSON.stringify(name)} is being created (its listener is not up yet); try again`);
    if (!p) throw notFound(`proxy ${JSON.stringify(name)} not found${this.proxies.size ? ` (proxies: ${this.proxyNames().join(", ")})` : " (there are no proxies)"}`);
    return p;
  }

  private expiry(ttlMs: number | null | undefined): string | null {
    return ttlMs ? new Date(Date.now() + ttlMs).toISOString() : null;
  }

  private toxics(proxy: string): ToxicInfo[] {
    return this.toxicSource?.list(proxy) ?? [];
  }

  /** Removes a proxy's toxics (clear, panic) and logs it when there were any; the caller announces the change. Returns their names. */
  private clearToxics(proxy: string, who: string, cause: "clear" | "panic"): string[] {
    const gone = this.toxicSource?.clear(proxy) ?? [];
    if (gone.length === 0) return [];
    logToxicChange(this.log, { proxy, who, cause, toxic: null, toxics: [], removed: gone });
    return gone.map((t) => t.name);
  }

  private resetActor(): void {
    this.actor = "agent";
    this.actorTtl = null;
    this.actorBound = false;
  }

  private listenError(err: unknown, listen: string): AgentError {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === "EADDRINUSE") return conflict(`listen address ${listen} is already in use`);
    return invalidParams([{ path: "params.listen", message: `cannot listen on ${listen}: ${e?.code ?? ""} ${e?.message ?? String(err)}`.replace(/\s+/g, " ").trim() }]);
  }

  private onImpairmentChange(name: string, state: ImpairmentState | null, cause: ChangeCause): void {
    const p = this.proxies.get(name);
    if (p) p.setImpairment(state ? { spec: state.spec, percent: state.percent, clients: state.clients } : null);
    const who = cause === "ttl" ? "ttl" : this.actor;
    logImpairmentChange(this.log, { proxy: name, who, cause, state, ttlMs: cause === "apply" ? this.actorTtl : null, bound: cause === "apply" ? this.actorBound : false });
    if (p) this.emit("impairment", name, { who, cause, impairment: state, toxics: this.toxics(name) });
  }

  private *metered(): Iterable<MeteredProxy> {
    for (const [name, p] of this.proxies) yield { name, key: p, protocol: p.protocol, stats: p.stats(), profile: this.book.get(name)?.profile ?? null, toxics: this.toxics(name).length };
  }
}

function protocolError(value: unknown): FieldError {
  return { path: "params.protocol", message: `expected one of ${PROTOCOLS.join(" | ")}, got ${JSON.stringify(value)}` };
}
