// A UDP proxy's datagram side: one listening socket, a flow per client address:port (each with
// its own upstream socket), closed after `idleMs` without a datagram either way, at most
// `maxFlows` of them (a new client beyond that evicts the flow idle the longest). Flows are kept
// in a Map in order of last activity, so eviction and the idle sweep take the oldest first.
import dgram, { type Socket } from "node:dgram";
import net from "node:net";
import type { ImpairmentSpec } from "../../profiles/types.js";
import type { Now, Random } from "../../clock.js";
import type { ConnInfo, DatagramStats } from "../../control/protocol.js";
import type { ConnectionImpairment, SpecOverlay } from "../connection.js";
import { isTargeted } from "../targeting.js";
import type { HostPort } from "../address.js";
import type { Direction } from "../../faults/limit.js";
import { DROP_CAUSES, type DropCause } from "./datagram-link.js";
import { DepartureClocks } from "./departure-clock.js";
import { UdpFlow, type DatagramHandler, type FlowHost } from "./flow.js";

export const DEFAULT_UDP_IDLE_MS = 60_000;
export const DEFAULT_MAX_FLOWS = 1024;

export interface UdpRelayOptions {
  name: string;
  upstream: () => HostPort;
  now: Now;
  random: Random;
  idleMs: number;
  maxFlows: number;
  /** the protocol layer of a new flow (dns), or null: datagrams pass as they came */
  handler: ((flow: UdpFlow) => DatagramHandler) | null;
  opened(info: ConnInfo): void;
  closed(flow: UdpFlow, reason: string): void;
  observeDelay?(dir: Direction, seconds: number): void;
  fault(flow: UdpFlow, kind: "stall" | "corrupt" | "loss", detail: string, count: number): void;
  /** the counters to add to (a proxy keeps one set across the relays of its enables and listens) */
  counts?: DatagramCounters;
}

export interface DatagramCounters {
  up: DatagramStats["up"];
  down: DatagramStats["down"];
  flowsTotal: number;
  flowsEvicted: number;
}

export function newDatagramCounters(): DatagramCounters {
  return { up: emptyCounts(), down: emptyCounts(), flowsTotal: 0, flowsEvicted: 0 };
}

/** Stats from counters alone (no relay listening: no flows). */
export function datagramStats(c: DatagramCounters, flowsActive: number): DatagramStats {
  return {
    flowsActive,
    flowsTotal: c.flowsTotal,
    flowsEvicted: c.flowsEvicted,
    up: { ...c.up, dropped: { ...c.up.dropped } },
    down: { ...c.down, dropped: { ...c.down.dropped } },
  };
}

function emptyCounts(): DatagramStats["up"] {
  return { in: 0, out: 0, duplicated: 0, dropped: Object.fromEntries(DROP_CAUSES.map((c) => [c, 0])) as Record<DropCause, number> };
}

export class UdpRelay {
  private socket: Socket | null = null;
  private readonly flows = new Map<string, UdpFlow>();
  private readonly byId = new Map<string, UdpFlow>();
  private nextId = 1;
  private impairment: ConnectionImpairment | null = null;
  private overlay: SpecOverlay | null = null;
  private readonly clocks = new DepartureClocks();
  private sweeper: NodeJS.Timeout | null = null;
  readonly counts: DatagramCounters;
  private readonly host: Omit<FlowHost, "listener">;

  constructor(private readonly opts: UdpRelayOptions) {
    const counts = opts.counts ?? newDatagramCounters();
    this.counts = counts;
    this.host = {
      now: opts.now,
      random: opts.random,
      upstream: opts.upstream,
      clockFor: (dir, spec, client) => this.clocks.clockFor(dir, spec.share, spec.queue, client, spec[dir].bandwidth),
      counted: (dir, what, _bytes) => {
        counts[dir][what]++;
      },
      dropped: (dir, cause, n) => {
        counts[dir].dropped[cause] += n;
      },
      observeDelay: (dir, s) => opts.observeDelay?.(dir, s),
      stalled: (flow, ms) => opts.fault(flow, "stall", `stall windows of ${ms} ms`, 1),
      corrupted: (flow, n) => opts.fault(flow, "corrupt", `${n} bytes corrupted`, n),
    };
  }

  get port(): number {
    const a = this.socket?.address();
    return a ? a.port : 0;
  }

  get size(): number {
    return this.flows.size;
  }

  get sharedLinks(): number {
    return this.clocks.size;
  }

  /** Binds the listening socket; rejects with the bind error (EADDRINUSE, ...). */
  bind(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type: net.isIPv6(host) ? "udp6" : "udp4" });
      const onError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once("error", onError);
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off("error", onError);
        try {
          // bursts wait in the kernel while the agent is busy (the kernel caps it at rmem_max)
          socket.setRecvBufferSize(4 * 1024 * 1024);
        } catch {
          // the kernel's default
        }
        // errors after bind (a send to a vanished client) must not kill the agent
        socket.on("error", () => {});
        socket.on("message", (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
        this.socket = socket;
        const sweepEvery = Math.max(50, Math.min(1000, this.opts.idleMs / 4));
        this.sweeper = setInterval(() => this.sweep(), sweepEvery);
        this.sweeper.unref();
        resolve(socket.address().port);
      });
    });
  }

  /** Closes the socket and every flow. */
  close(): Promise<void> {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    this.closeFlows("closed");
    const socket = this.socket;
    this.socket = null;
    if (socket === null) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }

  /** Closes one flow (by id) or all; returns how many. */
  closeFlows(reason: string, id?: string): number {
    if (id !== undefined) {
      const f = this.byId.get(id);
      if (f === undefined) return 0;
      this.drop(f, reason, "evicted");
      return 1;
    }
    const all = [...this.flows.values()];
    for (const f of all) this.drop(f, reason, "evicted");
    return all.length;
  }

  setImpairment(imp: ConnectionImpairment | null, overlay: SpecOverlay | null): void {
    this.impairment = imp;
    this.overlay = overlay;
    const now = this.opts.now();
    for (const f of this.flows.values()) f.apply(this.specFor(f), now);
  }

  flowInfos(): ConnInfo[] {
    return [...this.flows.values()].map(flowInfo);
  }

  queued(dir: Direction): number {
    let n = 0;
    for (const f of this.flows.values()) n += dir === "up" ? f.queuedUp : f.queuedDown;
    return n;
  }

  stats(): DatagramStats {
    return datagramStats(this.counts, this.flows.size);
  }

  private specFor(f: UdpFlow): ImpairmentSpec | null {
    const imp = this.impairment;
    const targeted = imp !== null && isTargeted(f.share, f.clientAddress, imp.percent, imp.clients);
    const base = targeted && imp ? imp.spec : null;
    return this.overlay !== null ? this.overlay(base, () => f.share) : base;
  }

  private receive(msg: Buffer, address: string, port: number): void {
    const key = `${address}|${port}`;
    let flow = this.flows.get(key);
    if (flow === undefined) {
      flow = this.open(key, address, port);
      if (flow === undefined) return;
    } else {
      // most recently active last: the Map's order is the eviction order
      this.flows.delete(key);
      this.flows.set(key, flow);
    }
    flow.fromClient(msg);
  }

  private open(key: string, address: string, port: number): UdpFlow | undefined {
    const listener = this.socket;
    if (listener === null) return undefined;
    while (this.flows.size >= this.opts.maxFlows) {
      const oldest = this.flows.values().next().value as UdpFlow;
      this.counts.flowsEvicted++;
      this.drop(oldest, `evicted: over udpMaxFlows (${this.opts.maxFlows}), idle the longest`, "evicted");
    }
    const flow = new UdpFlow(`${this.opts.name}-u${this.nextId++}`, address, port, { ...this.host, listener });
    if (this.opts.handler !== null) flow.handler = this.opts.handler(flow);
    this.flows.set(key, flow);
    this.byId.set(flow.id, flow);
    this.counts.flowsTotal++;
    flow.apply(this.specFor(flow), this.opts.now());
    this.opts.opened(flowInfo(flow));
    return flow;
  }

  private drop(flow: UdpFlow, reason: string, cause: DropCause): void {
    const key = `${flow.clientAddress}|${flow.clientPort}`;
    if (this.flows.get(key) === flow) this.flows.delete(key);
    this.byId.delete(flow.id);
    flow.close(cause);
    this.opts.closed(flow, reason);
  }

  private sweep(): void {
    const deadline = this.opts.now() - this.opts.idleMs;
    for (const f of this.flows.values()) {
      // answers from the server keep a flow alive too (they do not move it in the Map's order)
      if (f.lastActive > deadline) continue;
      if (f.queuedUp > 0 || f.queuedDown > 0) continue;
      this.drop(f, `idle for ${this.opts.idleMs} ms (udpIdle)`, "evicted");
    }
  }
}

export function flowInfo(f: UdpFlow): ConnInfo {
  return {
    id: f.id,
    client: f.clientLabel,
    openedAt: f.openedAt.toISOString(),
    bytesUp: f.bytesUp,
    bytesDown: f.bytesDown,
    impaired: f.impaired,
    transport: "udp",
    datagramsUp: f.datagramsUp,
    datagramsDown: f.datagramsDown,
    ...(f.requestFaults.length > 0 ? { requestFaults: [...f.requestFaults], requestsOff: f.requestsOff } : {}),
  };
}
