// One relayed connection: a client socket and its upstream socket, wired in both directions.
//   up = client -> upstream, down = upstream -> client.
// A direction with nothing configured takes the fast path (write, pause on a full buffer, resume
// on drain: no queue, no timers). An impaired direction goes through its Link. Faults that end or
// freeze the connection (reset, half-open, limit, slow close) act here, on the pair.
import net, { type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { ImpairmentSpec, DirectionSpec } from "../profiles/types.js";
import { cleanDirection, isCleanDirection } from "../profiles/types.js";
import type { FaultKind } from "../control/protocol.js";
import type { Now, Random } from "../clock.js";
import { Link, type LinkSink, type Release } from "../link/link.js";
import type { SharedLink } from "../link/shared.js";
import type { WriteModeration } from "../link/moderation.js";
import { StallSchedule, armStallCounter } from "../faults/stall.js";
import { armTrigger, drawn, firesAtOnce, type ArmedTrigger } from "../faults/trigger.js";
import { ByteLimit, type Direction } from "../faults/limit.js";
import { corruptInPlace } from "../faults/corrupt.js";
import { decideConnect } from "../faults/connect.js";
import { finDelay } from "../faults/slow-close.js";
import { sendReset } from "../faults/reset.js";
import { enterHalfOpen, type HalfOpenState } from "../faults/half-open.js";
import { isTargeted, type Cidr } from "./targeting.js";
import type { HostPort } from "./address.js";
import { SocketReader } from "./reader.js";
import { adoptAccepted } from "./adopt.js";
import type { ProtocolStream, RelayPath } from "../requests/protocol.js";
import { AnswerGate, answerTripMs } from "./answer-gate.js";
import type { ServerFirstResult } from "../tls/negotiation.js";
import { HeldRequests } from "../requests/holds.js";
import { handshakeMs, handshakeOf, type TlsHandshake } from "../tls/handshake-cost.js";

/** The impairment a proxy hands its connections, with CIDRs already parsed. */
export interface ConnectionImpairment {
  spec: ImpairmentSpec;
  percent: number;
  clients: readonly Cidr[];
}

/**
 * Composes extra conditions onto a connection's spec (the Toxiproxy API's toxics): gets the
 * proxy impairment's spec when this connection is targeted (else null) and returns the spec the
 * connection runs (null = clean). `draw(key)` is a uniform number in [0, 1) drawn the first time
 * this connection asks for `key` and kept for the connection's life, so a share decided per
 * connection (a toxic's toxicity) is never re-rolled by a later apply.
 */
export type SpecOverlay = (base: ImpairmentSpec | null, draw: (key: string) => number) => ImpairmentSpec | null;

/** What a connection needs from its proxy. */
export interface ConnectionHost {
  readonly now: Now;
  readonly random: Random;
  readonly connectTimeoutMs: number;
  /** the agent's write moderation for this connection's links, or null */
  readonly moderation?: WriteModeration | null;
  /** bytes delivered, counted as they go */
  countBytes(dir: Direction, n: number): void;
  fault(conn: Connection, kind: FaultKind, detail: string, count?: number): void;
  observeDelay?(dir: Direction, seconds: number): void;
  /** the shared link this connection's direction runs on (spec.share), or null: a clock of its own */
  sharedLink?(dir: Direction, conn: Connection, spec: ImpairmentSpec, direction: DirectionSpec): SharedLink<Link> | null;
  closed(conn: Connection, error: string | null): void;
}

/**
 * Makes a connected upstream socket speak TLS (the protocol's ask, then the handshake);
 * rejects with the reason when it cannot. Given per connection when the proxy has tls.upstream.
 */
export type UpstreamWrap = (raw: Socket) => Promise<Socket>;

/**
 * A protocol whose server speaks first (mysql) comes to TLS over both sockets at once: given the
 * raw client and the connected upstream, resolves with the sockets bytes then flow on (either may
 * be TLS over the raw one) and a stage for the request layer; rejects with the reason.
 */
export type ServerFirstSwitch = (client: Socket, upstream: Socket) => Promise<ServerFirstResult>;

type State = "connecting" | "open" | "halfOpen" | "closing" | "closed";

/** After a limit closes both sides gracefully, peers get this long to finish before a destroy. */
const GRACEFUL_CLOSE_MS = 5000;

export class Connection {
  readonly openedAt = new Date();
  readonly acceptedAt: number;
  /** sticky draw for `percent` targeting */
  readonly share: number;
  readonly clientAddress: string;
  readonly clientPort: number;
  /**
   * the client socket (the accepted one, moved into a Socket that reads into reusable buffers;
   * after a server-first switch, the socket it gave: TLS over the accepted one)
   */
  client: Socket;
  bytesUp = 0;
  bytesDown = 0;
  impaired = false;
  /** the proxy's impairment reaches this connection (percent, clients): its request rules act here */
  targeted = false;
  readonly faults: FaultKind[] = [];

  private upstream: Socket | null = null;
  private state: State = "connecting";
  private spec: ImpairmentSpec | null = null;
  private readonly links: Record<Direction, Link | null> = { up: null, down: null };
  private readonly retiring: Record<Direction, boolean> = { up: false, down: false };
  private readonly blocked: Record<Direction, boolean> = { up: false, down: false };
  private readonly ended: Record<Direction, boolean> = { up: false, down: false };
  private readonly finSent: Record<Direction, boolean> = { up: false, down: false };
  private clientClosed = false;
  private upstreamClosed = false;
  private triggers: ArmedTrigger[] = [];
  private timers: NodeJS.Timeout[] = [];
  private stallCounter: { cancel(): void } | null = null;
  private halfOpenState: HalfOpenState | null = null;
  private limit: ByteLimit | null = null;
  private corruptProbability = 0;
  private finDelayMs = 0;
  /** a server-first switch's handshake waiting out its time on the link (mysql over TLS) */
  private handshakeHold: { handshake: TlsHandshake; release: () => void; timer: NodeJS.Timeout } | null = null;
  /** ms to wait before dialling, decided by the connect fault at accept */
  private connectDelay = 0;
  /** where to dial, once started; the pending connect delay, and the upstream connect timeout */
  private dialTarget: HostPort | null = null;
  private dialTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  /** FINs held back by slowClose, per direction */
  private readonly finTimers: Record<Direction, NodeJS.Timeout | null> = { up: null, down: null };
  /** delivered byte counts at the trigger origin */
  private originUp = 0;
  private originDown = 0;
  /** true when deliver() has nothing to check but counting (the common case) */
  private plain = true;
  private error: string | null = null;
  /** sticky per-connection draws of the overlay, by key */
  private readonly draws = new Map<string, number>();
  /**
   * Each direction's source is read into reusable buffers (see reader.ts: a fresh buffer per read
   * is what made the CLI agent mark-compact all the time); null = read with 'data' events, the
   * chunks then owned by us.
   */
  private readonly readers: Record<Direction, SocketReader | null>;
  /** the request layer of a protocol proxy (null on tcp: bytes never see it) */
  private requests: ProtocolStream | null = null;
  /** why request faults are off for this connection (TLS, a stream it cannot follow), else null */
  requestsOff: string | null = null;
  /** requests its `delay` rules hold (let go early when a change takes the rule away) */
  readonly held = new HeldRequests();
  /** answers the agent made, waiting out their request's trip up the link, and what follows them */
  private readonly gate = new AnswerGate({
    deliver: (buf) => this.relay("down", buf),
    drained: () => this.updateFlow("down"),
    emptied: () => {
      if (!this.finWaiting) return;
      this.finWaiting = false;
      const link = this.links.down;
      if (link === null || link.idle) this.forwardFin("down");
      // else the link's onIdle forwards it
    },
    now: () => this.host.now(),
    later: (ms, fn) => this.later(ms, fn),
    cancel: (t) => this.cancelTimer(t),
  });
  /** the client's FIN, held while the gate holds bytes for it */
  private finWaiting = false;
  /** request faults injected on this connection, in order */
  readonly requestFaults: string[] = [];

  constructor(
    readonly id: string,
    accepted: Socket,
    private readonly host: ConnectionHost,
    /** TLS towards the upstream (null: plain) */
    private readonly upstreamWrap: UpstreamWrap | null = null,
    /** the client's TLS handshake, done by the agent before the link (null: none) */
    private readonly handshake: TlsHandshake | null = null,
    /** both sides' TLS in one exchange once the upstream is connected (mysql); null: none */
    private readonly serverFirst: ServerFirstSwitch | null = null,
  ) {
    const up = new SocketReader((chunk) => this.onData("up", chunk));
    // a TLS socket's bytes come decrypted through 'data'; bytes put back by a protocol's
    // negotiation wait in the socket's buffer; a server-first switch reads the socket and may
    // put TLS over it: none of these can move its handle
    const adoptable = serverFirst === null && !(accepted instanceof TLSSocket) && accepted.readableLength === 0;
    const adopted = adoptable ? adoptAccepted(accepted, up.onread) : null;
    const client = adopted ?? accepted;
    this.client = client;
    const wrapped = upstreamWrap !== null || serverFirst !== null;
    this.readers = { up: adopted !== null ? up : null, down: wrapped ? null : new SocketReader((chunk) => this.onData("down", chunk)) };
    this.acceptedAt = host.now();
    this.share = host.random();
    this.clientAddress = client.remoteAddress ?? "";
    this.clientPort = client.remotePort ?? 0;
    client.setNoDelay(true);
    client.pause();
    client.on("error", this.onClientError);
    client.on("close", this.onClientClosed);
    // during a server-first switch the switch reads the client; its bytes flow once it is done
    if (serverFirst === null) this.wireClientFlow(client, adopted !== null);
  }

  private readonly onClientError = (err: NodeJS.ErrnoException): void => this.onSocketError("client", err);
  private readonly onClientClosed = (): void => this.onClientClose();

  /** The client's bytes, end and drain reach the connection. */
  private wireClientFlow(client: Socket, adopted: boolean): void {
    if (!adopted) client.on("data", (chunk: Buffer) => this.onData("up", chunk));
    client.on("end", () => this.onEnd("up"));
    client.on("drain", () => this.onDrain("down"));
  }

  /**
   * Puts a protocol's request layer between the sockets and the links (protocol proxies only):
   * client -> layer -> up link -> upstream, upstream -> layer -> down link -> client.
   */
  attachRequests(open: (path: RelayPath) => ProtocolStream): void {
    this.requests = open(this.path);
  }

  /** Where a request layer sends bytes and asks for ends and flow. */
  private readonly path: RelayPath = {
    toUpstream: (buf) => this.relay("up", buf),
    toClient: (buf) => this.gate.pass(buf),
    answerClient: (buf, requestBytes) => this.gate.answer(buf, this.answerTripMs(requestBytes)),
    resumeClient: () => this.updateFlow("up"),
    reset: () => this.reset(),
    close: () => this.endBoth(),
    endUpstream: () => this.endDirection("up"),
    endClient: () => this.endDirection("down"),
    readClient: () => {
      if (this.state === "open") this.client.resume();
    },
    readUpstream: () => {
      if (this.state === "open") this.upstream?.resume();
    },
  };

  /** The request layer ended a direction: its FIN goes once the link has sent what it holds. */
  private endDirection(dir: Direction): void {
    if (this.state !== "open") return;
    this.ended[dir] = true;
    const link = this.links[dir];
    if (link === null || link.idle) this.forwardFin(dir);
  }

  /** Starts the connection: connect faults, then the upstream dial. */
  start(upstream: HostPort, impairment: ConnectionImpairment | null, overlay: SpecOverlay | null = null): void {
    this.applyImpairment(impairment, this.acceptedAt, overlay);
    if (this.state !== "connecting") return; // refused, or a fault at once already acted
    this.dialTarget = upstream;
    if (this.connectDelay > 0)
      this.dialTimer = this.later(this.connectDelay, () => {
        this.dialTimer = null;
        this.dial(upstream);
      });
    else this.dial(upstream);
  }

  /** How long a request of `requestBytes` takes up this connection's link now (ms; 0: clean). */
  answerTripMs(requestBytes: number): number {
    return answerTripMs(this.spec?.up, requestBytes);
  }

  /** The client's address as HOST:PORT. */
  get clientLabel(): string {
    return this.clientAddress.includes(":") ? `[${this.clientAddress}]:${this.clientPort}` : `${this.clientAddress}:${this.clientPort}`;
  }

  queued(dir: Direction): number {
    return this.links[dir]?.queuedBytes ?? 0;
  }

  /** Applies (or clears) an impairment (and overlay); time triggers count from `origin`. */
  applyImpairment(impairment: ConnectionImpairment | null, origin: number, overlay: SpecOverlay | null = null): void {
    if (this.state === "closing" || this.state === "closed") return;
    const targeted =
      impairment !== null && isTargeted(this.share, this.clientAddress, impairment.percent, impairment.clients);
    const base = targeted && impairment ? impairment.spec : null;
    this.targeted = targeted;
    const spec = overlay !== null ? overlay(base, this.draw) : base;
    if (this.state === "halfOpen") {
      this.impaired = spec !== null;
      // healed (no halfOpen asked for any more): the client is read again, its bytes discarded,
      // so its FIN or RST is heard and the connection ends instead of lingering in CLOSE-WAIT
      if (!spec?.halfOpen) this.client.resume();
      return;
    }
    this.disarmFaults();
    const random = this.host.random;
    this.impaired = spec !== null;
    this.spec = spec;
    this.originUp = this.bytesUp;
    this.originDown = this.bytesDown;
    this.limit = spec?.limit && drawn(spec.limit.probability, random) ? new ByteLimit(spec.limit) : null;
    this.corruptProbability = spec?.corrupt?.probability ?? 0;
    this.finDelayMs = finDelay(spec?.slowClose ?? null, random);
    // what a fault holds back is let go the moment an apply (clear, panic, a removed toxic)
    // no longer asks for it, as stalls and rate-0 links are
    if (!spec?.slowClose) this.releaseFins();

    let stall: StallSchedule | null = null;
    if (spec?.stall && drawn(spec.stall.probability, random)) {
      stall = new StallSchedule(origin, spec.stall.every, spec.stall.duration);
      this.stallCounter = armStallCounter(stall, this.host.now(), () => {
        if (this.state === "open") this.recordFault("stall", `stall for ${spec.stall?.duration} ms`);
      });
    }
    this.setLink("up", spec, stall);
    this.setLink("down", spec, stall);
    // answers waiting out a trip the link no longer has (clear, panic, a ttl) go now
    if (answerTripMs(spec?.up, 0) <= 0) this.gate.release();

    let releaseDial = false;
    if (this.state === "connecting" && this.upstream === null) {
      // a new connection (or one still held by a connect delay): the connect fault decides
      // first (a refused client never sees more)
      const decision = decideConnect(spec?.connect ?? null, random);
      if (decision.refuse) {
        this.recordFault("refuse", "connection refused by the connect fault");
        this.reset();
        return;
      }
      // a client's TLS handshake, done before the link, is charged here: the link's round trips
      // and serialization for it, counted from the accept, before the first request is read
      const handshakeLeft = this.handshake !== null ? this.handshake.startedAt + handshakeMs(this.handshake, spec) - this.host.now() : 0;
      this.connectDelay = Math.max(decision.delay, handshakeLeft);
      // held by a delay the new impairment no longer has: dial now (a delay still asked for
      // keeps its first deadline: a ramp's re-apply does not restart it)
      releaseDial = this.dialTimer !== null && this.connectDelay <= 0;
    }
    const hold = this.handshakeHold;
    if (hold !== null && hold.handshake.startedAt + handshakeMs(hold.handshake, spec) <= this.host.now()) {
      // a held server-first handshake whose link went away goes on now
      this.cancelTimer(hold.timer);
      hold.release();
    }

    let byteTriggers = false;
    if (spec?.reset && drawn(spec.reset.probability, random)) {
      // a new connection reset at once is never dialled; a live one gets its RST right after
      // the apply (a timer of 0), so the apply's answer reaches the controller first
      if (firesAtOnce(spec.reset) && this.state === "connecting") {
        this.recordFault("reset", "reset at once");
        this.reset();
        return;
      }
      this.triggers.push(armTrigger(spec.reset, () => this.faultReset()));
      byteTriggers ||= spec.reset.afterBytes !== null;
    }
    if (spec?.halfOpen && drawn(spec.halfOpen.probability, random)) {
      const h = spec.halfOpen;
      // half-open at once acts inside the apply: a timer would let bytes through meanwhile
      if (firesAtOnce(h)) {
        this.halfOpen(h.mode, h.hold);
        return;
      }
      this.triggers.push(armTrigger(h, () => this.halfOpen(h.mode, h.hold)));
      byteTriggers ||= h.afterBytes !== null;
    }
    this.plain = this.limit === null && this.corruptProbability === 0 && !byteTriggers;
    if (releaseDial && this.dialTarget !== null) {
      this.cancelTimer(this.dialTimer);
      this.dialTimer = null;
      this.dial(this.dialTarget);
    }
  }

  /** Sends a RST both ways now (conn.reset, or the reset fault). */
  reset(): void {
    if (this.state === "closed") return;
    this.state = "closing";
    this.closeLinks();
    sendReset(this.client);
    sendReset(this.upstream);
  }

  /** conn.reset (`netimpair reset`): a RST now, counted as a reset fault like any other. */
  resetOnRequest(): void {
    if (this.state === "closed" || this.state === "closing") return;
    this.recordFault("reset", "reset on request (conn.reset)");
    this.reset();
  }

  /** Destroys both sockets quietly (proxy shutdown). */
  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  private readonly draw = (key: string): number => {
    let value = this.draws.get(key);
    if (value === undefined) {
      value = this.host.random();
      this.draws.set(key, value);
    }
    return value;
  };

  // ---- wiring -------------------------------------------------------------------------------

  private dial(target: HostPort): void {
    if (this.state !== "connecting") return;
    const reader = this.readers.down;
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true, ...(reader ? { onread: reader.onread } : {}) });
    this.upstream = upstream;
    const timeout = this.later(this.host.connectTimeoutMs, () => {
      this.connectTimer = null;
      // a connection half-opened while dialling stays silent until its hold, not reset here
      if (this.state !== "connecting") return;
      this.error = `upstream connect timeout after ${this.host.connectTimeoutMs} ms`;
      this.reset();
    });
    this.connectTimer = timeout;
    const onError = (err: NodeJS.ErrnoException): void => this.onSocketError(`upstream ${target.host}:${target.port}`, err);
    const onClose = (): void => this.onUpstreamClose();
    upstream.on("error", onError);
    upstream.on("close", onClose);
    upstream.once("connect", () => {
      if (this.state !== "connecting") return;
      if (this.serverFirst !== null) return this.switchBoth(upstream, timeout, onError, onClose);
      if (this.upstreamWrap === null) return this.opened(upstream, timeout, reader !== null);
      // TLS first (the connect timeout covers it): the wrapped socket replaces the raw one
      this.upstreamWrap(upstream).then(
        (wrapped) => {
          upstream.off("error", onError);
          upstream.off("close", onClose);
          upstream.on("error", () => {}); // its errors come to the TLS socket
          if (this.state !== "connecting") {
            wrapped.destroy();
            if (this.upstream === upstream) this.onUpstreamClose();
            return;
          }
          this.upstream = wrapped;
          wrapped.setNoDelay(true);
          wrapped.on("error", onError);
          wrapped.on("close", onClose);
          this.opened(wrapped, timeout, false);
        },
        (err: Error) => this.handshakeFailed(err, upstream, timeout),
      );
    });
  }

  /** A server-first switch over both sockets (mysql's TLS), then bytes flow on what it gave. */
  private switchBoth(upstream: Socket, timeout: NodeJS.Timeout, onError: (err: NodeJS.ErrnoException) => void, onClose: () => void): void {
    const rawClient = this.client;
    this.serverFirst!(rawClient, upstream).then(
      (result) => {
        if (result.upstream !== upstream) {
          upstream.off("error", onError);
          upstream.off("close", onClose);
          upstream.on("error", () => {}); // its errors come to the TLS socket
          result.upstream.on("error", onError);
          result.upstream.on("close", onClose);
          this.upstream = result.upstream;
        }
        if (result.client !== rawClient) {
          rawClient.off("error", this.onClientError);
          rawClient.off("close", this.onClientClosed);
          rawClient.on("error", () => {});
          result.client.on("error", this.onClientError);
          result.client.on("close", this.onClientClosed);
          this.client = result.client;
        }
        if (this.state !== "connecting") {
          result.client.destroy();
          result.upstream.destroy();
          return;
        }
        result.upstream.setNoDelay(true);
        this.client.setNoDelay(true);
        this.client.pause();
        this.wireClientFlow(this.client, false);
        if (result.stage !== null) this.requests = result.stage(this.requests ?? passThrough(this.path));
        const open = (): void => {
          this.handshakeHold = null;
          this.opened(result.upstream, timeout, false);
          // the switch read the raw upstream and left it paused
          result.upstream.resume();
        };
        // the greeting and the client's TLS handshake crossed no link: their time on the link
        // passes before the connection phase goes on (a clear lets it go at once)
        if (result.client instanceof TLSSocket) {
          const handshake = handshakeOf(result.client, rawClient, this.acceptedAt, false, true);
          const left = handshake.startedAt + handshakeMs(handshake, this.spec) - this.host.now();
          if (left > 0) {
            this.cancelTimer(timeout);
            this.connectTimer = null;
            this.handshakeHold = { handshake, release: open, timer: this.later(left, open) };
            return;
          }
        }
        open();
      },
      (err: Error) => this.handshakeFailed(err, upstream, timeout),
    );
  }

  /** A TLS handshake or server-first switch failed while connecting: both sockets end. */
  private handshakeFailed(err: Error, upstream: Socket, timeout: NodeJS.Timeout): void {
    if (this.state !== "connecting") return;
    this.cancelTimer(timeout);
    this.connectTimer = null;
    this.error = err.message;
    // the client sees its connection end, as a failed handshake ends it
    this.state = "closing";
    upstream.destroy();
    this.client.destroy();
  }

  /** The upstream is there (its TLS done, if any): bytes flow. */
  private opened(upstream: Socket, timeout: NodeJS.Timeout, readsIntoBuffers: boolean): void {
    this.cancelTimer(timeout);
    this.connectTimer = null;
    if (this.state !== "connecting") return;
    this.state = "open";
    // with the onread option its bytes come to onData through this.readers.down
    if (!readsIntoBuffers) upstream.on("data", (chunk: Buffer) => this.onData("down", chunk));
    upstream.on("end", () => this.onEnd("down"));
    upstream.on("drain", () => this.onDrain("up"));
    this.client.resume();
  }

  private source(dir: Direction): Socket | null {
    return dir === "up" ? this.client : this.upstream;
  }

  private target(dir: Direction): Socket | null {
    return dir === "up" ? this.upstream : this.client;
  }

  /** A chunk read from a direction's source; read into a reusable buffer, it is valid only during this call. */
  private onData(dir: Direction, chunk: Buffer): void {
    if (this.state !== "open") return; // half-open (drop mode), closing: read and discard
    const requests = this.requests;
    let ok: boolean;
    if (requests === null) ok = this.relay(dir, chunk, true);
    else {
      // a request layer may hold bytes past this call: a chunk in a reusable buffer is copied
      const own = this.readers[dir]?.borrowed ? Buffer.from(chunk) : chunk;
      ok = dir === "up" ? requests.fromClient(own) : requests.fromUpstream(own);
    }
    if (!ok) this.source(dir)?.pause();
  }

  /** Bytes into a direction's link (or straight to the far side). False when it is full. */
  private relay(dir: Direction, chunk: Buffer, borrowed = false): boolean {
    if (this.state !== "open") return true;
    const link = this.links[dir];
    // the reader whose buffer holds the chunk (null: the chunk is ours to keep)
    const reader = borrowed && this.readers[dir]?.borrowed ? this.readers[dir] : null;
    if (link !== null) {
      if (reader === null) return link.push(chunk);
      // the link keeps bytes past this call: a chunk in a reusable buffer is lent to it (the
      // buffer goes back to the pool once the link has written its last byte), or copied when
      // it fills too little of its buffer to be worth holding
      const release = reader.keep(chunk.length);
      return release !== null ? link.push(chunk, release) : link.push(Buffer.from(chunk));
    }
    return this.deliver(dir, chunk, reader);
  }

  /** Both sides closed gracefully (a request layer's FATAL answer), destroyed if they linger. */
  private endBoth(): void {
    if (this.state !== "open") return;
    for (const dir of ["up", "down"] as const) {
      this.ended[dir] = true; // as if the source had ended: a link forwards the FIN once idle
      const link = this.links[dir];
      if (link === null || link.idle) this.forwardFin(dir);
    }
    const t = setTimeout(() => this.destroy(), GRACEFUL_CLOSE_MS);
    t.unref();
    this.timers.push(t);
  }

  /**
   * Hands bytes to the far side. False when its buffer is full. `reader` is the reader whose
   * buffer holds `chunk` (the fast path writes it without a copy; the write's callback gives the
   * buffer back), null when the chunk is ours to keep. `done`: a link's release of a lent chunk,
   * given to the write as its callback (not called when nothing is written: an earlier write may
   * still hold the buffer; the collector takes it then).
   */
  private deliver(dir: Direction, chunk: Buffer, reader: SocketReader | null = null, done: Release | null = null): boolean {
    if (this.state !== "open") {
      done?.(true);
      return true;
    }
    const target = dir === "up" ? this.upstream! : this.client;
    if (this.plain) {
      this.count(dir, chunk.length);
      const callback = reader !== null ? reader.lend() : done;
      const ok = callback !== null ? target.write(chunk, callback) : target.write(chunk);
      if (!ok) this.blocked[dir] = true;
      return ok;
    }
    let buf = chunk;
    let limitReached = false;
    if (this.limit !== null) {
      const pass = this.limit.allow(dir, buf.length);
      if (pass < buf.length) buf = buf.subarray(0, pass);
      limitReached = this.limit.reached(dir);
    }
    if (this.corruptProbability > 0) {
      const flips = corruptInPlace(buf, this.corruptProbability, this.host.random);
      if (flips > 0) this.recordFault("corrupt", `${flips} byte(s) corrupted`, flips);
    }
    this.count(dir, buf.length);
    if (buf.length === 0) done?.(true);
    const callback = buf.length === 0 ? null : reader !== null ? reader.lend() : done;
    const ok = buf.length === 0 || (callback !== null ? target.write(buf, callback) : target.write(buf));
    if (!ok) this.blocked[dir] = true;
    const since = this.bytesUp - this.originUp + (this.bytesDown - this.originDown);
    for (const t of this.triggers) t.bytes(since);
    if (limitReached) this.limitReached(dir);
    return ok;
  }

  private count(dir: Direction, n: number): void {
    if (dir === "up") this.bytesUp += n;
    else this.bytesDown += n;
    this.host.countBytes(dir, n);
  }

  private onDrain(dir: Direction): void {
    this.blocked[dir] = false;
    const link = this.links[dir];
    if (link !== null) link.resume();
    // also with a link: the source may have been paused by the fast path before the link came
    this.updateFlow(dir);
  }

  /** Pauses or resumes a direction's source to match where its bytes can go. */
  private updateFlow(dir: Direction): void {
    const src = this.source(dir);
    if (src === null || this.state !== "open") return;
    const link = this.links[dir];
    const hold = link !== null ? link.full : this.blocked[dir];
    const owns = this.requests?.owns;
    if (owns !== undefined) {
      // the request layer decides when its sources read again
      if (!hold) {
        if (dir === "up") owns.upstreamDrained();
        else owns.clientDrained();
      }
      return;
    }
    if (hold) src.pause();
    else src.resume();
  }

  private onEnd(dir: Direction): void {
    this.ended[dir] = true;
    if (this.state === "halfOpen") {
      if (dir === "up") this.client.destroy(); // the client closed its silent connection
      return;
    }
    if (this.state !== "open") return;
    const owns = this.requests?.owns;
    if (owns !== undefined) {
      // the request layer forwards the FIN after the bytes it still holds (path.endUpstream...)
      this.ended[dir] = false;
      if (dir === "up") owns.clientEnded();
      else owns.upstreamEnded();
      return;
    }
    const link = this.links[dir];
    if (link === null || link.idle) this.forwardFin(dir);
    // else: the link's onIdle forwards it once the queued bytes have left
  }

  private forwardFin(dir: Direction): void {
    if (this.finSent[dir]) return;
    if (dir === "down" && this.gate.holding) {
      // an answer the agent made still waits out its trip: the FIN follows it
      this.finWaiting = true;
      return;
    }
    this.finSent[dir] = true;
    const send = (): void => {
      this.finTimers[dir] = null;
      if (this.state === "open") this.target(dir)?.end();
    };
    if (this.finDelayMs > 0) this.finTimers[dir] = this.later(this.finDelayMs, send);
    else send();
  }

  /** Passes on at once the FINs slowClose is holding. */
  private releaseFins(): void {
    for (const dir of ["up", "down"] as const) {
      const t = this.finTimers[dir];
      if (t === null) continue;
      this.cancelTimer(t);
      this.finTimers[dir] = null;
      if (this.state === "open") this.target(dir)?.end();
    }
  }

  // ---- links --------------------------------------------------------------------------------

  private setLink(dir: Direction, impairment: ImpairmentSpec | null, stall: StallSchedule | null): void {
    const spec = impairment?.[dir] ?? null;
    const needed = stall !== null || (spec !== null && !isCleanDirection(spec));
    const link = this.links[dir];
    if (needed) {
      const direction = spec ?? cleanDirection();
      const shared = impairment !== null ? (this.host.sharedLink?.(dir, this, impairment, direction) ?? null) : null;
      this.retiring[dir] = false;
      if (link !== null) link.reconfigure(direction, stall, shared);
      else this.links[dir] = this.newLink(dir, direction, stall, shared);
    } else if (link !== null) {
      // Bytes already queued leave at once, in order; then the fast path takes over.
      this.retiring[dir] = true;
      link.reconfigure(cleanDirection(), null);
      if (link.idle) this.retire(dir);
    }
  }

  private newLink(dir: Direction, spec: DirectionSpec, stall: StallSchedule | null, shared: SharedLink<Link> | null): Link {
    const sink: LinkSink = {
      write: (buf, done) => this.deliver(dir, buf, null, done),
      cork: () => this.target(dir)?.cork(),
      uncork: () => this.target(dir)?.uncork(),
    };
    const observe = this.host.observeDelay;
    return new Link(
      spec,
      stall,
      sink,
      {
        onDelay: observe ? (s) => observe(dir, s) : undefined,
        onLoss: (n) => this.recordFault("loss", `${n} segment(s) delivered one rto late`, n),
        onWritable: () => this.updateFlow(dir),
        onIdle: () => {
          if (this.retiring[dir]) this.retire(dir);
          if (this.ended[dir]) this.forwardFin(dir);
        },
      },
      this.host.now,
      this.host.random,
      shared,
      this.host.moderation ?? null,
    );
  }

  private retire(dir: Direction): void {
    this.links[dir]?.close();
    this.links[dir] = null;
    this.retiring[dir] = false;
    this.updateFlow(dir);
  }

  private closeLinks(): void {
    for (const dir of ["up", "down"] as const) {
      this.links[dir]?.close();
      this.links[dir] = null;
    }
  }

  // ---- faults -------------------------------------------------------------------------------

  private recordFault(kind: FaultKind, detail: string, count = 1): void {
    if (kind !== "loss" && kind !== "corrupt" && kind !== "stall") this.faults.push(kind);
    else if (!this.faults.includes(kind)) this.faults.push(kind);
    this.host.fault(this, kind, detail, count);
  }

  private faultReset(): void {
    if (this.state === "closed" || this.state === "closing") return;
    this.recordFault("reset", "connection reset");
    this.reset();
  }

  private halfOpen(mode: "drop" | "freeze", hold: number): void {
    if (this.state === "closed" || this.state === "closing" || this.state === "halfOpen") return;
    this.recordFault("half_open", `half-open (${mode}), client held ${hold} ms`);
    this.state = "halfOpen";
    this.disarmFaults();
    // a dial in progress (or still delayed) is abandoned: nothing but the hold ends it now
    this.cancelTimer(this.connectTimer);
    this.connectTimer = null;
    this.cancelTimer(this.dialTimer);
    this.dialTimer = null;
    this.closeLinks();
    const upstream = this.upstream;
    this.upstream = null; // forgotten
    this.upstreamClosed = true;
    this.halfOpenState = enterHalfOpen(this.client, upstream, mode, hold);
    if (this.clientClosed) this.finish();
  }

  private limitReached(dir: Direction): void {
    this.recordFault("limit", `limit reached after ${dir === "up" ? this.bytesUp - this.originUp : this.bytesDown - this.originDown} bytes ${dir}`);
    this.state = "closing";
    this.disarmFaults();
    this.closeLinks();
    this.client.end();
    this.upstream?.end();
    // keep reading (and discarding) so peers can finish; then make sure both are gone
    this.client.resume();
    this.upstream?.resume();
    const t = setTimeout(() => this.destroy(), GRACEFUL_CLOSE_MS);
    t.unref();
    this.timers.push(t);
  }

  private disarmFaults(): void {
    for (const t of this.triggers) t.cancel();
    this.triggers = [];
    this.stallCounter?.cancel();
    this.stallCounter = null;
  }

  private cancelTimer(t: NodeJS.Timeout | null): void {
    if (t === null) return;
    clearTimeout(t);
    const i = this.timers.indexOf(t);
    if (i >= 0) this.timers.splice(i, 1);
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      const i = this.timers.indexOf(t);
      if (i >= 0) this.timers.splice(i, 1);
      fn();
    }, ms);
    this.timers.push(t);
    return t;
  }

  // ---- closing ------------------------------------------------------------------------------

  private onSocketError(side: "client" | `upstream ${string}`, err: NodeJS.ErrnoException): void {
    this.error ??= `${side}: ${err.code ?? err.message}`;
    // A failure travels as on a real network: the other side is reset.
    if (this.state === "halfOpen") return;
    this.state = this.state === "closed" ? "closed" : "closing";
    this.closeLinks();
    sendReset(side === "client" ? this.upstream : this.client);
  }

  private onClientClose(): void {
    this.clientClosed = true;
    if (this.state === "connecting") {
      // the client went away before the upstream answered
      this.state = "closing";
      this.upstream?.destroy();
    }
    if (this.upstreamClosed || this.upstream === null) this.finish();
  }

  private onUpstreamClose(): void {
    if (this.state === "halfOpen") return; // forgotten
    this.upstreamClosed = true;
    if (this.state === "connecting") {
      // refused or failed before connecting: the client is reset, as a real network would show
      this.error ??= "upstream: closed before connecting";
      this.state = "closing";
      sendReset(this.client);
    }
    if (this.clientClosed) this.finish();
  }

  private finish(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.requests?.close();
    this.held.clear();
    this.gate.clear();
    this.disarmFaults();
    this.closeLinks();
    this.halfOpenState?.cancel();
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.host.closed(this, this.error);
  }
}

/** A request layer that passes bytes as they come (a stage's inner layer on a bytes-only proxy). */
function passThrough(path: RelayPath): ProtocolStream {
  return { fromClient: (b) => path.toUpstream(b), fromUpstream: (b) => path.toClient(b), close: () => {} };
}
