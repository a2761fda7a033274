// One UDP flow: a client address:port, the upstream socket of its own that the proxy opened for
// it (so the server's answers come back to that socket and go to that client), and a datagram
// link per direction. A protocol handler (dns) may sit between the client and the up link.
import dgram, { type Socket } from "node:dgram";
import net from "node:net";
import type { DirectionSpec, ImpairmentSpec } from "../../profiles/types.js";
import { cleanDirection } from "../../profiles/types.js";
import type { Now, Random } from "../../clock.js";
import { StallSchedule } from "../../faults/stall.js";
import { corruptInPlace } from "../../faults/corrupt.js";
import { drawn } from "../../faults/trigger.js";
import { DatagramLink, type DropCause } from "./datagram-link.js";
import type { DepartureClock } from "./departure-clock.js";
import type { Direction } from "../../faults/limit.js";
import type { DatagramHandler, DatagramPath } from "../../requests/datagram.js";
import { answerTripMs } from "../answer-gate.js";

export type { DatagramHandler } from "../../requests/datagram.js";

/** What a flow needs from its relay. */
export interface FlowHost {
  readonly now: Now;
  readonly random: Random;
  /** the listening socket: answers to the client leave from it */
  readonly listener: Socket;
  upstream(): { host: string; port: number };
  clockFor(dir: Direction, spec: ImpairmentSpec, clientAddress: string): DepartureClock | null;
  counted(dir: Direction, what: "in" | "out" | "duplicated", bytes: number): void;
  dropped(dir: Direction, cause: DropCause, count: number): void;
  observeDelay(dir: Direction, seconds: number): void;
  stalled(flow: UdpFlow, ms: number): void;
  corrupted(flow: UdpFlow, bytes: number): void;
}

/** Datagrams held while the upstream socket connects. */
const MAX_EARLY = 64;

export class UdpFlow implements DatagramPath {
  readonly openedAt = new Date();
  /** sticky draw for `percent` targeting */
  readonly share: number;
  bytesUp = 0;
  bytesDown = 0;
  datagramsUp = 0;
  datagramsDown = 0;
  impaired = false;
  lastActive: number;
  readonly requestFaults: string[] = [];
  requestsOff: string | null = null;
  readonly faults: string[] = [];
  handler: DatagramHandler | null = null;
  private readonly socket: Socket;
  private connected = false;
  private early: Buffer[] = [];
  private readonly up: DatagramLink;
  private readonly down: DatagramLink;
  private corrupt = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** the up direction as applied (an answer made in the server's place waits out its trip) */
  private upSpec: DirectionSpec | null = null;

  constructor(
    readonly id: string,
    readonly clientAddress: string,
    readonly clientPort: number,
    private readonly host: FlowHost,
  ) {
    this.share = host.random();
    this.lastActive = host.now();
    const clean = { spec: cleanDirection(), stall: null, duplicate: 0, clock: null };
    this.up = new DatagramLink(clean, host.now, host.random, {
      deliver: (buf, seconds) => this.sendUp(buf, seconds),
      dropped: (cause, n) => host.dropped("up", cause, n),
      duplicated: () => host.counted("up", "duplicated", 0),
    });
    this.down = new DatagramLink(clean, host.now, host.random, {
      deliver: (buf, seconds) => this.sendDown(buf, seconds),
      dropped: (cause, n) => host.dropped("down", cause, n),
      duplicated: () => host.counted("down", "duplicated", 0),
    });
    const { host: upHost, port } = host.upstream();
    this.socket = dgram.createSocket(net.isIPv6(upHost) ? "udp6" : "udp4");
    this.socket.on("error", () => {
      // an ICMP port unreachable (ECONNREFUSED) on a connected socket: the datagram is gone, the flow stays
    });
    this.socket.on("message", (msg) => this.fromUpstream(msg));
    this.socket.connect(port, upHost, () => {
      this.connected = true;
      const early = this.early;
      this.early = [];
      for (const b of early) this.write(b);
    });
  }

  get clientLabel(): string {
    return this.clientAddress.includes(":") ? `[${this.clientAddress}]:${this.clientPort}` : `${this.clientAddress}:${this.clientPort}`;
  }

  get queuedUp(): number {
    return this.up.queuedBytes;
  }

  get queuedDown(): number {
    return this.down.queuedBytes;
  }

  /** The flow's links for a spec (null: clean); time windows (stalls) count from `origin`. */
  apply(spec: ImpairmentSpec | null, origin: number): void {
    this.impaired = spec !== null;
    const random = this.host.random;
    let stall: StallSchedule | null = null;
    if (spec?.stall && drawn(spec.stall.probability, random)) {
      stall = new StallSchedule(origin, spec.stall.every, spec.stall.duration);
      this.host.stalled(this, spec.stall.duration);
    }
    this.corrupt = spec?.corrupt?.probability ?? 0;
    this.upSpec = spec?.up ?? null;
    for (const dir of ["up", "down"] as const) {
      const d = spec === null ? cleanDirection() : spec[dir];
      const clock = spec === null ? null : this.host.clockFor(dir, spec, this.clientAddress);
      (dir === "up" ? this.up : this.down).configure({ spec: d, stall, duplicate: d.duplicate ?? 0, clock });
    }
  }

  /** A datagram from the client. */
  fromClient(buf: Buffer): void {
    if (this.closed) return;
    this.lastActive = this.host.now();
    this.host.counted("up", "in", buf.length);
    if (this.handler !== null) this.handler.fromClient(buf);
    else this.up.push(buf);
  }

  private fromUpstream(buf: Buffer): void {
    if (this.closed) return;
    this.lastActive = this.host.now();
    this.host.counted("down", "in", buf.length);
    if (this.handler !== null) this.handler.fromUpstream(buf);
    else this.down.push(buf);
  }

  toUpstream(buf: Buffer): void {
    this.up.push(buf);
  }

  toClient(buf: Buffer): void {
    this.down.push(buf);
  }

  answerClient(buf: Buffer, requestBytes: number): void {
    // the query never went up: its answer waits out the trip it would have taken
    const ms = answerTripMs(this.upSpec, requestBytes);
    if (ms <= 0) this.toClient(buf);
    else this.later(ms, () => this.toClient(buf));
  }

  later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
  }

  dropped(dir: Direction, cause: DropCause): void {
    this.host.dropped(dir, cause, 1);
  }

  private sendUp(buf: Buffer, seconds: number): void {
    if (this.closed) return;
    const out = this.corrupted(buf);
    if (seconds > 0) this.host.observeDelay("up", seconds);
    this.datagramsUp++;
    this.bytesUp += out.length;
    this.host.counted("up", "out", out.length);
    if (!this.connected) {
      if (this.early.length < MAX_EARLY) this.early.push(out);
      else this.host.dropped("up", "queue", 1);
      return;
    }
    this.write(out);
  }

  private write(buf: Buffer): void {
    this.socket.send(buf, (err) => {
      if (err) this.host.dropped("up", "error", 1);
    });
  }

  private sendDown(buf: Buffer, seconds: number): void {
    if (this.closed) return;
    const out = this.corrupted(buf);
    if (seconds > 0) this.host.observeDelay("down", seconds);
    this.datagramsDown++;
    this.bytesDown += out.length;
    this.host.counted("down", "out", out.length);
    this.host.listener.send(out, this.clientPort, this.clientAddress, (err) => {
      if (err) this.host.dropped("down", "error", 1);
    });
  }

  private corrupted(buf: Buffer): Buffer {
    if (this.corrupt <= 0) return buf;
    const copy = Buffer.from(buf);
    const n = corruptInPlace(copy, this.corrupt, this.host.random);
    if (n > 0) this.host.corrupted(this, n);
    return copy;
  }

  /** Closes the upstream socket and drops what is queued (counted with `cause`). */
  close(cause: DropCause = "evicted"): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.handler?.close();
    const up = this.up.close() + this.early.length;
    const down = this.down.close();
    this.early = [];
    if (up > 0) this.host.dropped("up", cause, up);
    if (down > 0) this.host.dropped("down", cause, down);
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
