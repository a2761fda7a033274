// A proxy: a named listener and its upstream. It accepts clients, dials the upstream for each
// (never blocking other accepts), and hands every connection the current impairment.
import net, { type Server, type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { EventEmitter } from "node:events";
import type { ImpairmentSpec } from "../profiles/types.js";
import { FAULT_KINDS, type FieldError, type ConnInfo, type FaultKind, type ProxyStats } from "../control/protocol.js";
import { monotonicNow, mathRandom, type Now, type Random } from "../clock.js";
import { parseHostPort, formatHostPort, type HostPort } from "./address.js";
import { parseCidr, type Cidr } from "./targeting.js";
import { Connection, type UpstreamWrap, type ServerFirstSwitch, type ConnectionHost, type ConnectionImpairment, type SpecOverlay } from "./connection.js";

export type { SpecOverlay } from "./connection.js";
import { sendReset } from "../faults/reset.js";
import { LinkScopes } from "../link/scopes.js";
import type { WriteModeration } from "../link/moderation.js";
import { PROTOCOLS, type ProtocolName } from "../requests/rule.js";
import { protocolModule } from "../requests/modules.js";
import { RuleEngine, RuleCompileError } from "../requests/engine.js";
import type { ProtocolModule, RequestDetail, RequestOutcome, StreamContext } from "../requests/protocol.js";
import { REQUEST_OUTCOMES, type RequestEvent } from "../requests/events.js";
import type { Direction } from "../faults/limit.js";
import { UdpRelay, DEFAULT_MAX_FLOWS, DEFAULT_UDP_IDLE_MS, datagramStats, flowInfo, newDatagramCounters, type DatagramCounters } from "./udp/udp-relay.js";
import type { UdpFlow } from "./udp/flow.js";
import { dnsDatagrams } from "../protocols/dns/datagrams.js";
import type { DnsReply } from "../protocols/dns/message.js";
import { datagramFieldErrors, isDatagramProtocol } from "./udp/transport-fields.js";
import type { LoadedTls } from "../tls/settings.js";
import { acceptTls, connectTls, TlsFailure, type ClientCertificates, type TlsSide } from "../tls/wrap.js";
import { tlsNegotiation, tlsUnsupported } from "../tls/protocols.js";
import { handshakeOf, type TlsHandshake } from "../tls/handshake-cost.js";

/** A proxy's TLS as it runs: the loaded setting and the client side's certificates. */
export interface ProxyTls {
  loaded: LoadedTls;
  /** present when loaded.client is */
  clientCerts: ClientCertificates | null;
}

/** A TLS failure on one connection (the agent logs the first of each code, counts them all). */
export interface TlsFailureEvent {
  client: string;
  side: TlsSide;
  code: string;
  message: string;
}

export interface ProxyOptions {
  name: string;
  /** HOST:PORT; port 0 picks one */
  listen: string;
  /** HOST:PORT */
  upstream: string;
  enabled?: boolean;
  connectTimeoutMs?: number;
  /** 0 = unlimited; beyond it new clients are reset */
  maxConnections?: number;
  /** time bytes spent inside the agent, per delivered piece of an impaired direction */
  onDelay?: (direction: Direction, seconds: number) => void;
  /** what the proxy carries (default tcp: bytes only, no request layer) */
  protocol?: ProtocolName;
  /** the server's answer time of a forwarded request (protocol proxies) */
  onRequestDuration?: (seconds: number, count: number) => void;
  /** udp and dns proxies: a flow without a datagram either way for this long is closed (default 60 s) */
  udpIdleMs?: number;
  /** udp and dns proxies: flows at most; a new client beyond it evicts the flow idle the longest (default 1024) */
  udpMaxFlows?: number;
  /** TLS on either side (null: bytes pass as they come) */
  tls?: ProxyTls | null;
  /** the agent's write moderation shared by its proxies' links (link/moderation.ts); none: every segment at its own time */
  moderation?: WriteModeration | null;
  now?: Now;
  random?: Random;
}

/** An impairment as a proxy takes it: percent 0..100, clients as CIDR strings (empty = all). */
export interface AppliedImpairment {
  spec: ImpairmentSpec;
  percent: number;
  clients: string[];
}

export interface ConnCloseInfo extends ConnInfo {
  durationMs: number;
  faults: FaultKind[];
  error: string | null;
}

export interface FaultEvent {
  conn: string;
  client: string;
  kind: FaultKind;
  detail: string;
  /** how many this event stands for (segments lost, bytes corrupted; 1 for the rest) */
  count?: number;
}

/** Request faults listed per connection in conn.list (the proxy's counters count them all). */
const MAX_FAULTS_LISTED = 1000;

export class ProxyError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** the bad fields, when known (request rules) */
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

export class Proxy extends EventEmitter {
  readonly name: string;
  private listenAddr: HostPort;
  private boundAddr: HostPort | null = null;
  private upstreamAddr: HostPort;
  private isEnabled: boolean;
  private server: Server | null = null;
  private readonly conns = new Map<string, Connection>();
  private nextId = 1;
  private current: AppliedImpairment | null = null;
  private currentForConnections: ConnectionImpairment | null = null;
  private overlay: SpecOverlay | null = null;
  private readonly maxConnections: number;
  private readonly counters = {
    connectionsTotal: 0,
    bytesUp: 0,
    bytesDown: 0,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    tlsFailures: { client: 0, upstream: 0 },
  };
  private tlsSetting: ProxyTls | null;
  /** accepted clients still in their TLS negotiation (not yet connections) */
  private readonly handshaking = new Set<Socket>();
  private readonly host: ConnectionHost;
  /** the shared links of this proxy's connections (share client / proxy) */
  private readonly scopes: LinkScopes;
  /** listener changes (start, enable, disable, a new address, close) run one at a time, in order */
  private lifecycle: Promise<void> = Promise.resolve();
  private closed = false;
  private protocolName: ProtocolName = "tcp";
  private module: ProtocolModule<unknown> | null = null;
  /** the rules of the current apply, compiled for the protocol; null = none */
  private engine: RuleEngine<unknown> | null = null;
  private readonly requestCounts = Object.fromEntries(REQUEST_OUTCOMES.map((k) => [k, 0])) as Record<RequestOutcome, number>;
  private readonly onRequestDuration: ((seconds: number, count: number) => void) | undefined;
  /**
   * Someone watches every request (topic requests with requests: "all"): the request layer then
   * names and times forwarded requests too. Off, it builds nothing per forwarded request.
   */
  tracing = false;
  /** the datagram side of a udp or dns proxy while it listens */
  private udp: UdpRelay | null = null;
  /** the datagram counters of every relay this proxy has had (null until it first listens for datagrams) */
  private datagramCounts: DatagramCounters | null = null;
  readonly udpIdleMs: number;
  readonly udpMaxFlows: number;

  constructor(opts: ProxyOptions) {
    super();
    this.name = opts.name;
    this.udpIdleMs = opts.udpIdleMs ?? DEFAULT_UDP_IDLE_MS;
    this.udpMaxFlows = opts.udpMaxFlows ?? DEFAULT_MAX_FLOWS;
    this.onRequestDuration = opts.onRequestDuration;
    this.tlsSetting = opts.tls ?? null;
    if (this.tlsSetting !== null) this.checkTls(this.protocolName, this.tlsSetting);
    this.setProtocol(opts.protocol ?? "tcp");
    this.listenAddr = mustParse("listen", opts.listen);
    this.upstreamAddr = mustParse("upstream", opts.upstream);
    this.isEnabled = opts.enabled ?? true;
    this.maxConnections = opts.maxConnections ?? 0;
    const counters = this.counters;
    const onDelay = opts.onDelay;
    const now = opts.now ?? monotonicNow;
    const scopes = new LinkScopes(now);
    this.scopes = scopes;
    this.host = {
      now,
      random: opts.random ?? mathRandom,
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      moderation: opts.moderation ?? null,
      countBytes(dir, n) {
        if (dir === "up") counters.bytesUp += n;
        else counters.bytesDown += n;
      },
      fault: (conn, kind, detail, count = 1) => {
        counters.faults[kind] += count;
        const event: FaultEvent = { conn: conn.id, client: conn.clientLabel, kind, detail, count };
        this.emit("fault", event);
      },
      observeDelay: onDelay,
      sharedLink: (dir, conn, spec, direction) => scopes.linkFor(dir, spec.share, spec.queue, conn.clientAddress, direction),
      closed: (conn, error) => {
        this.conns.delete(conn.id);
        const info: ConnCloseInfo = {
          ...connInfo(conn),
          durationMs: Date.now() - conn.openedAt.getTime(),
          faults: conn.faults,
          error,
        };
        this.emit("close", info);
      },
    };
  }

  get listen(): string {
    const a = this.boundAddr ?? this.listenAddr;
    return formatHostPort(a.host, a.port);
  }

  get upstream(): string {
    return formatHostPort(this.upstreamAddr.host, this.upstreamAddr.port);
  }

  get enabled(): boolean {
    return this.isEnabled;
  }

  get impairment(): AppliedImpairment | null {
    return this.current;
  }

  /** Listens if enabled. Rejects with the listen error (code EADDRINUSE, EACCES, ...). */
  start(): Promise<void> {
    return this.serial(async () => {
      if (this.isEnabled) await this.listenNow();
    });
  }

  /**
   * Starts or stops listening. Calls run in the order made, each after the one before has
   * finished (a host name's lookup included), so the last one acknowledged is the state.
   */
  setEnabled(on: boolean): Promise<void> {
    return this.serial(async () => {
      if (on === this.isEnabled) return;
      if (on) {
        await this.listenNow();
        this.isEnabled = true;
      } else {
        this.isEnabled = false;
        // destroy first: server.close() only calls back once every accepted socket has closed
        const stopped = this.stopListening();
        await this.stopDatagrams();
        for (const c of this.conns.values()) c.destroy();
        for (const s of this.handshaking) s.destroy();
        await stopped;
      }
    });
  }

  /**
   * Moves the listener to a new address (Toxiproxy's listen change). An enabled proxy listens
   * on the new address first, so a failure (in use) leaves it where it was; then the old
   * listener stops and its connections close. The impairment, overlay and counters stay.
   */
  setListen(addr: string): Promise<void> {
    const next = mustParse("listen", addr);
    return this.serial(async () => {
      if (!this.isEnabled) {
        this.listenAddr = next;
        return;
      }
      const previous = { server: this.server, bound: this.boundAddr, listen: this.listenAddr, udp: this.udp };
      this.listenAddr = next;
      try {
        await this.listenNow();
      } catch (err) {
        this.listenAddr = previous.listen;
        this.udp = previous.udp;
        throw err;
      }
      if (previous.udp !== null) await previous.udp.close();
      const old = previous.server;
      if (old) {
        const stopped = new Promise<void>((resolve) => old.close(() => resolve()));
        for (const c of this.conns.values()) c.destroy();
        await stopped;
      }
    });
  }

  setUpstream(addr: string): void {
    this.upstreamAddr = mustParse("upstream", addr);
  }

  get tls(): ProxyTls | null {
    return this.tlsSetting;
  }

  /** Sets (or removes) TLS; new connections take it, live ones keep theirs. */
  setTls(tls: ProxyTls | null): void {
    if (tls !== null) this.checkTls(this.protocolName, tls);
    this.tlsSetting = tls;
  }

  private checkTls(protocol: ProtocolName, tls: ProxyTls): void {
    const refused = tlsUnsupported(protocol, { client: tls.loaded.client !== null, upstream: tls.loaded.upstream !== null });
    if (refused === null) return;
    const message = `proxy ${this.name}: ${refused.side} side: ${refused.why}`;
    throw new ProxyError(`tls.${refused.side}: ${message}`, "EINVAL", [{ path: `tls.${refused.side}`, message }]);
  }

  get protocol(): ProtocolName {
    return this.protocolName;
  }

  /**
   * Sets what the proxy carries; new connections take it (live ones keep theirs). The current
   * rules are compiled again for it, so a protocol the rules do not fit is refused.
   */
  setProtocol(protocol: ProtocolName): void {
    if (!PROTOCOLS.includes(protocol)) throw new ProxyError(`protocol: expected one of ${PROTOCOLS.join(" | ")}, got ${JSON.stringify(protocol)}`, "EINVAL");
    if (isDatagramProtocol(protocol) !== isDatagramProtocol(this.protocolName) && (this.server !== null || this.udp !== null)) {
      throw new ProxyError(
        `protocol: proxy ${this.name} listens for ${isDatagramProtocol(this.protocolName) ? "datagrams" : "TCP"}; ${protocol} needs ${isDatagramProtocol(protocol) ? "a UDP socket" : "a TCP listener"} (disable it first, or delete and create it again)`,
        "EINVAL",
      );
    }
    if (this.current !== null) this.checkTransport(protocol, this.current.spec);
    const module = protocolModule(protocol);
    if (module === undefined) throw new ProxyError(`protocol: ${protocol} is not built into this agent yet`, "EINVAL");
    const engine = this.compileRules(module, protocol, this.current?.spec.requests ?? []);
    if (this.tlsSetting !== undefined && this.tlsSetting !== null) this.checkTls(protocol, this.tlsSetting);
    this.protocolName = protocol;
    this.module = module;
    this.engine = engine;
  }

  private compileRules(module: ProtocolModule<unknown> | null, protocol: ProtocolName, rules: ImpairmentSpec["requests"]): RuleEngine<unknown> | null {
    if (rules.length === 0) return null;
    if (module === null) {
      const problem = `proxy ${this.name} carries ${protocol}; request rules need a protocol (set protocol: postgres, mysql, redis, http, grpc or dns)`;
      // the field named once: "params.requests: proxy pg carries tcp; ..." on the control channel
      throw new ProxyError(`requests: ${problem}`, "EINVAL", [{ path: "requests", message: problem }]);
    }
    try {
      return new RuleEngine(module, rules, this.host.random, "requests", this.host.now);
    } catch (err) {
      if (err instanceof RuleCompileError) throw new ProxyError(err.message, "EINVAL", err.errors);
      throw err;
    }
  }

  /** Checks that request rules fit this proxy's protocol; throws ProxyError (with fields) if not. */
  checkRules(rules: ImpairmentSpec["requests"]): void {
    this.compileRules(this.module, this.protocolName, rules);
  }

  /** Checks a whole spec against this proxy: its rules, and faults its transport cannot carry. */
  checkSpec(spec: ImpairmentSpec): void {
    this.checkTransport(this.protocolName, spec);
    this.checkRules(spec.requests);
  }

  private checkTransport(protocol: ProtocolName, spec: ImpairmentSpec): void {
    const fields = datagramFieldErrors(this.name, protocol, spec);
    if (fields.length > 0) throw new ProxyError(fields.map((f) => `${f.path}: ${f.message}`).join("; "), "EINVAL", fields);
  }

  /** Replaces the impairment; live connections take it at once, triggers counting from now. */
  setImpairment(imp: AppliedImpairment | null): void {
    if (imp !== null) this.checkTransport(this.protocolName, imp.spec);
    const engine = this.compileRules(this.module, this.protocolName, imp?.spec.requests ?? []);
    const clients: Cidr[] = [];
    for (const text of imp?.clients ?? []) {
      const c = parseCidr(text);
      if (typeof c === "string") throw new ProxyError(`clients: ${c}`, "EINVAL");
      clients.push(c);
    }
    this.current = imp;
    this.engine = engine;
    this.currentForConnections = imp ? { spec: imp.spec, percent: imp.percent, clients } : null;
    const now = this.host.now();
    for (const c of this.conns.values()) c.applyImpairment(this.currentForConnections, now, this.overlay);
    this.udp?.setImpairment(this.currentForConnections, this.overlay);
    this.releaseHolds();
  }

  /**
   * What a `delay` rule holds goes upstream at once, in order, on every connection the rule no
   * longer reaches (panic, clear, a ttl, a closing session, an apply without it, untargeted now).
   */
  private releaseHolds(): void {
    const engine = this.engine;
    for (const c of this.conns.values()) {
      if (c.held.size === 0) continue;
      c.held.releaseUnless((rule) => c.targeted && engine !== null && engine.hasRule(rule));
    }
  }

  /**
   * Sets (or removes, with null) the overlay composed onto every connection's spec, on top of
   * the impairment; live connections take it at once, like an apply.
   */
  setOverlay(overlay: SpecOverlay | null): void {
    this.overlay = overlay;
    const now = this.host.now();
    for (const c of this.conns.values()) c.applyImpairment(this.currentForConnections, now, overlay);
    this.releaseHolds();
    this.udp?.setImpairment(this.currentForConnections, overlay);
  }

  stats(): ProxyStats {
    let queueUp = 0;
    let queueDown = 0;
    for (const c of this.conns.values()) {
      queueUp += c.queued("up");
      queueDown += c.queued("down");
    }
    const k = this.counters;
    const udp = this.udp;
    const datagrams = udp?.stats() ?? (this.datagramCounts !== null ? datagramStats(this.datagramCounts, 0) : null);
    return {
      connectionsActive: this.conns.size + (datagrams?.flowsActive ?? 0),
      connectionsTotal: k.connectionsTotal + (datagrams?.flowsTotal ?? 0),
      bytesUp: k.bytesUp,
      bytesDown: k.bytesDown,
      queueUp: queueUp + (udp?.queued("up") ?? 0),
      queueDown: queueDown + (udp?.queued("down") ?? 0),
      sharedLinks: this.scopes.size + (udp?.sharedLinks ?? 0),
      faults: { ...k.faults },
      requests: { ...this.requestCounts },
      ...(datagrams !== null ? { datagrams } : {}),
      tlsFailures: { ...k.tlsFailures },
    };
  }

  /** Shared links alive now (one per client address and direction with share client, ...). */
  get sharedLinks(): number {
    return this.scopes.size + (this.udp?.sharedLinks ?? 0);
  }

  /** TCP connections, then UDP flows (transport "udp"). */
  connections(): ConnInfo[] {
    const tcp = [...this.conns.values()].map(connInfo);
    return this.udp === null ? tcp : [...tcp, ...this.udp.flowInfos()];
  }

  /** Sends a RST on one connection (by id) or all; returns how many. */
  resetConnections(id?: string): number {
    if (id !== undefined) {
      const c = this.conns.get(id);
      // a UDP flow has nothing to reset: it is closed (its upstream socket too)
      if (!c) return this.udp?.closeFlows("closed on request", id) ?? 0;
      c.resetOnRequest();
      return 1;
    }
    let n = 0;
    for (const c of this.conns.values()) {
      c.resetOnRequest();
      n++;
    }
    return n + (this.udp?.closeFlows("closed on request") ?? 0);
  }

  /** Stops listening and destroys every connection; a listen still in progress is closed once it is up. */
  close(): Promise<void> {
    this.closed = true;
    return this.serial(async () => {
      // destroy first: server.close() only calls back once every accepted socket has closed
      const stopped = this.stopListening();
      for (const c of this.conns.values()) c.destroy();
      await this.stopDatagrams();
      for (const s of this.handshaking) s.destroy();
      await stopped;
    }, true);
  }

  private serial(op: () => Promise<void>, closing = false): Promise<void> {
    const run = this.lifecycle.then(() => {
      if (this.closed && !closing) throw new ProxyError(`proxy ${JSON.stringify(this.name)} is closed`, "ECLOSED");
      return op();
    });
    this.lifecycle = run.catch(() => undefined);
    return run;
  }

  private async listenNow(): Promise<void> {
    if (!isDatagramProtocol(this.protocolName)) return this.listenTcp();
    // udp: a datagram socket; dns: the same port for UDP and TCP (a picked port is tried again
    // when TCP finds it taken)
    for (let attempt = 0; ; attempt++) {
      const relay = this.newRelay();
      const port = await relay.bind(this.listenAddr.host, this.listenAddr.port);
      if (this.protocolName !== "dns") {
        this.udp = relay;
        this.boundAddr = { host: this.listenAddr.host, port };
        this.listenAddr = this.boundAddr;
        return;
      }
      const picked = this.listenAddr.port === 0;
      const wanted = this.listenAddr;
      this.listenAddr = { host: wanted.host, port };
      try {
        await this.listenTcp();
        this.udp = relay;
        return;
      } catch (err) {
        await relay.close();
        this.listenAddr = wanted;
        if (!picked || attempt >= 5 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
      }
    }
  }

  /** Stops the datagram side (its flows close), keeping its last counters for stats. */
  private async stopDatagrams(): Promise<void> {
    const udp = this.udp;
    if (udp === null) return;
    this.udp = null;
    this.boundAddr = this.server !== null ? this.boundAddr : null;
    await udp.close();
  }

  private newRelay(): UdpRelay {
    const dns = this.protocolName === "dns";
    const onDelay = this.host.observeDelay;
    this.datagramCounts ??= newDatagramCounters();
    return new UdpRelay({
      counts: this.datagramCounts,
      name: this.name,
      upstream: () => this.upstreamAddr,
      now: this.host.now,
      random: this.host.random,
      idleMs: this.udpIdleMs,
      maxFlows: this.udpMaxFlows,
      handler: dns ? (flow) => dnsDatagrams(flow, this.datagramRules(flow), this.host.now) : null,
      opened: (info) => this.emit("open", info),
      closed: (flow, reason) => {
        const info: ConnCloseInfo = {
          ...flowInfo(flow),
          durationMs: Date.now() - flow.openedAt.getTime(),
          faults: flow.faults as FaultKind[],
          error: reason.startsWith("idle") || reason === "closed" ? null : reason,
        };
        this.emit("close", info);
      },
      ...(onDelay !== undefined ? { observeDelay: onDelay } : {}),
      fault: (flow, kind, detail, count) => {
        this.counters.faults[kind] += count;
        if (!flow.faults.includes(kind)) flow.faults.push(kind);
        const event: FaultEvent = { conn: flow.id, client: flow.clientLabel, kind, detail, count };
        this.emit("fault", event);
      },
    });
  }

  /** What one UDP flow's dns layer reports to: the proxy's current rules, counters, events. */
  private datagramRules(flow: UdpFlow) {
    const counts = this.requestCounts;
    const forward = { action: "forward" } as const;
    return {
      hasRules: () => this.engine !== null,
      decide: (info: Parameters<RuleEngine<unknown>["decide"]>[0]) => {
        const d = (this.engine as RuleEngine<DnsReply> | null)?.decide(info) ?? forward;
        if (d.action === "forward") counts.forwarded++;
        return d;
      },
      injected: (outcome: Exclude<RequestOutcome, "forwarded">, rule: string, request: string) => {
        counts[outcome]++;
        flow.requestFaults.push(outcome);
        if (flow.requestFaults.length > 64) flow.requestFaults.shift();
        const event: RequestEvent = { conn: flow.id, client: flow.clientLabel, protocol: this.protocolName, outcome, rule, request, at: Date.now() };
        this.emit("request", event);
      },
    };
  }

  private listenTcp(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) =>
        this.accept(socket),
      );
      // EMFILE and friends on accept must not kill the agent
      server.on("error", (err) => {
        if (this.server === server) this.emit("listenError", err);
      });
      const onError = (err: Error): void => {
        server.close();
        reject(err);
      };
      server.once("error", onError);
      server.listen({ host: this.listenAddr.host, port: this.listenAddr.port }, () => {
        server.off("error", onError);
        const a = server.address();
        if (a && typeof a === "object") {
          this.boundAddr = { host: this.listenAddr.host, port: a.port };
          // a picked port (0) is kept: disabling and enabling again listens on the same address
          this.listenAddr = this.boundAddr;
        }
        this.server = server;
        resolve();
      });
    });
  }

  private stopListening(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.boundAddr = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    socket.on("error", () => {}); // the connection adds its own; this covers a reset before then
    if (!this.isEnabled || (this.maxConnections > 0 && this.conns.size >= this.maxConnections)) {
      // over maxConnections: reset, and counted as a refusal so an operator can see it
      const client = `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
      sendReset(socket);
      this.counters.faults.refuse++;
      const event: FaultEvent = { conn: "", client, kind: "refuse", detail: `over maxConnections (${this.maxConnections})` };
      this.emit("fault", event);
      return;
    }
    const tls = this.tlsSetting;
    // a protocol whose server speaks first (mysql) comes to TLS once the upstream is connected
    if (tls?.clientCerts && tlsNegotiation(this.protocolName).serverFirst === undefined) this.acceptTls(socket, tls, tls.clientCerts);
    else this.startConnection(socket, tls);
  }

  /** The client side's TLS (the protocol's ask, then the handshake), then the connection. */
  private acceptTls(socket: Socket, tls: ProxyTls, certs: ClientCertificates): void {
    const client = `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
    const negotiation = tlsNegotiation(this.protocolName);
    const timeoutMs = this.host.connectTimeoutMs;
    this.handshaking.add(socket);
    const startedAt = this.host.now();
    let asked = false;
    const ready: Promise<"tls" | "plain"> = negotiation.client !== undefined ? negotiation.client(socket, timeoutMs) : Promise.resolve("tls");
    ready
      .then((how): Promise<Socket> | Socket => {
        if (how !== "tls") return socket;
        asked = negotiation.client !== undefined;
        return acceptTls(socket, certs, negotiation.alpn, timeoutMs);
      })
      .then(
        (s) => {
          this.handshaking.delete(socket);
          if (!this.isEnabled || this.closed) return void s.destroy();
          this.startConnection(s, tls, s instanceof TLSSocket ? handshakeOf(s, socket, startedAt, asked) : null);
        },
        (err: unknown) => {
          this.handshaking.delete(socket);
          socket.destroy();
          this.tlsFailed(client, err);
        },
      );
  }

  private tlsFailed(client: string, err: unknown): void {
    const f = err instanceof TlsFailure ? err : new TlsFailure("client", "error", String(err));
    this.counters.tlsFailures[f.side]++;
    const event: TlsFailureEvent = { client, side: f.side, code: f.code, message: f.message };
    this.emit("tlsFailure", event);
  }

  private startConnection(socket: Socket, tls: ProxyTls | null, handshake: TlsHandshake | null = null): void {
    const upstreamTls = tls?.loaded.upstream ?? null;
    const negotiation = tlsNegotiation(this.protocolName);
    let wrap: UpstreamWrap | null = null;
    let serverFirst: ServerFirstSwitch | null = null;
    const serverFirstWay = negotiation.serverFirst;
    if (tls !== null && serverFirstWay !== undefined) {
      const sides = { label: `proxy ${this.name}`, clientCerts: tls.clientCerts, upstreamTls, host: this.upstreamAddr.host, timeoutMs: this.host.connectTimeoutMs };
      const client = `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
      serverFirst = async (rawClient, rawUpstream) => {
        try {
          return await serverFirstWay(rawClient, rawUpstream, sides);
        } catch (err) {
          this.tlsFailed(client, err);
          throw err instanceof TlsFailure ? new Error(`${err.side} TLS: ${err.message}`) : err;
        }
      };
    } else if (upstreamTls !== null) {
      const host = this.upstreamAddr.host;
      const timeoutMs = this.host.connectTimeoutMs;
      const client = `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
      wrap = async (raw: Socket): Promise<Socket> => {
        try {
          if (negotiation.upstream !== undefined) await negotiation.upstream(raw, timeoutMs);
          return await connectTls(raw, host, upstreamTls, negotiation.alpn, timeoutMs);
        } catch (err) {
          this.tlsFailed(client, err);
          throw err instanceof TlsFailure ? new Error(`upstream TLS: ${err.message}`) : err;
        }
      };
    }
    const conn = new Connection(`${this.name}-${this.nextId++}`, socket, this.host, wrap, handshake, serverFirst);
    const module = this.module;
    if (module !== null) conn.attachRequests((path) => module.open(this.streamContext(conn, path)));
    this.conns.set(conn.id, conn);
    this.counters.connectionsTotal++;
    this.emit("open", connInfo(conn));
    conn.start(this.upstreamAddr, this.currentForConnections, this.overlay);
  }

  /** An instant of the proxy's clock (now() time; default now) as epoch ms. */
  private epochOf(at: number | undefined): number {
    const wall = Date.now();
    return at === undefined ? wall : Math.round(wall - (this.host.now() - at));
  }

  /** What one connection's request layer reports to: the proxy's current rules, counters, events. */
  private streamContext(conn: Connection, path: StreamContext<unknown>["path"]): StreamContext<unknown> {
    const counts = this.requestCounts;
    const protocol = this.protocolName;
    const forward = { action: "forward" } as const;
    return {
      path,
      upstream: formatHostPort(this.upstreamAddr.host, this.upstreamAddr.port),
      now: this.host.now,
      // request rules reach the connections the link does (percent, clients), sticky per connection
      hasRules: () => this.engine !== null && conn.targeted,
      decide: (info, uncounted = false) => {
        const d = conn.targeted ? (this.engine?.decide(info, conn.clientAddress) ?? forward) : forward;
        if (d.action === "forward") {
          if (!uncounted) counts.forwarded++;
        } else if (d.action === "delay") return { ...d, hold: conn.held.hold(d.rule, d.ms) };
        else if (d.action === "fail" || d.action === "limit") {
          const trip = conn.answerTripMs(0);
          if (trip > 0) return { ...d, trip: conn.held.hold(d.rule, trip) };
        }
        return d;
      },
      passed: (count) => {
        counts.forwarded += count;
      },
      injected: (outcome, rule, request, arrivedAt, ms, detail) => {
        counts[outcome]++;
        // bounded per connection: a keep-alive client over a rateLimit may be answered millions of times
        if (conn.requestFaults.length < MAX_FAULTS_LISTED) conn.requestFaults.push(outcome);
        const event: RequestEvent = { conn: conn.id, client: conn.clientLabel, protocol, request, outcome, rule, at: this.epochOf(arrivedAt) };
        if (ms !== undefined) event.ms = Math.round(ms * 1000) / 1000;
        if (detail !== undefined) withDetail(event, detail);
        this.emit("request", event);
      },
      tracing: () => this.tracing,
      traced: (request, arrivedAt, ms, detail) => {
        if (!this.tracing) return;
        const event: RequestEvent = { conn: conn.id, client: conn.clientLabel, protocol, request, outcome: "forwarded", at: this.epochOf(arrivedAt) };
        if (ms !== null) event.ms = Math.round(ms * 1000) / 1000;
        if (detail !== undefined) withDetail(event, detail);
        this.emit("request", event);
      },
      answered: (seconds, count = 1) => this.onRequestDuration?.(seconds, count),
      opaque: (reason) => {
        conn.requestsOff = reason;
        this.emit("requestsOff", { conn: conn.id, client: conn.clientLabel, protocol, reason });
      },
    };
  }
}

function connInfo(c: Connection): ConnInfo {
  return {
    id: c.id,
    client: c.clientLabel,
    openedAt: c.openedAt.toISOString(),
    bytesUp: c.bytesUp,
    bytesDown: c.bytesDown,
    impaired: c.impaired,
    ...(c.requestFaults.length > 0 || c.requestsOff !== null ? { requestFaults: [...c.requestFaults], requestsOff: c.requestsOff } : {}),
  };
}

function mustParse(field: string, value: string): HostPort {
  const r = parseHostPort(value);
  if (typeof r === "string") throw new ProxyError(`${field}: ${r}`, "EINVAL");
  return r;
}

/** Adds a request's identity, answer class and abandonment to its event (only the fields known). */
function withDetail(event: RequestEvent, d: RequestDetail): void {
  if (d.identity !== undefined) event.identity = d.identity;
  if (d.answer !== undefined) event.answer = d.answer;
  if (d.abandoned === true) event.abandoned = true;
}
