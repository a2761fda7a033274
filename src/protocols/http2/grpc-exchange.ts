// One connection of a grpc proxy: the client's first bytes say what it speaks. The HTTP/2
// connection preface starts the splice (h2-splice.ts: the agent frames HTTP/2 itself and passes
// what it does not act on as it came). TLS, or anything else, passes through untouched with
// request faults off for this connection (said once).
import { H2_PREFACE, type H2Call, type H2Decision, type H2Outcome, type H2Settle } from "./h2-call.js";
import { H2Splice } from "./h2-splice.js";

export interface GrpcHost {
  decide(call: H2Call): H2Decision;
  toUpstream(buf: Buffer): boolean;
  toClient(buf: Buffer): boolean;
  endUpstream(): void;
  endClient(): void;
  resetConnection(reason: string): void;
  settled(call: H2Call, outcome: H2Outcome, seconds: number | null, detail?: H2Settle): void;
  /** true while someone watches every request (calls are then named: H2Settle) */
  identifying?(): boolean;
  passthrough(reason: string): void;
  /** HTTP/2 broke on one side (a protocol error, a malformed frame): for the log */
  broken(side: "client" | "upstream", reason: string): void;
  /** both sides end once written bytes have left (or after a grace period, dropping them) */
  close(): void;
}

const TLS_HANDSHAKE = 0x16;

export class GrpcExchange {
  private sniffed: Buffer[] = [];
  /** what the server sent before the client's preface decided (an HTTP/2 server may speak first) */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private sniffedBytes = 0;
  private term: H2Splice | null = null;
  private passing = false;
  private dead = false;
  private clientEndedEarly = false;
  private onClientDemand: (() => void) | null = null;
  private onUpstreamDemand: (() => void) | null = null;

  constructor(
    private readonly host: GrpcHost,
  ) {}

  onDemand(client: () => void, upstream: () => void): void {
    this.onClientDemand = client;
    this.onUpstreamDemand = upstream;
  }

  fromClient(chunk: Buffer): boolean {
    if (this.dead) return true;
    if (this.passing) return this.host.toUpstream(chunk);
    if (this.term) return this.term.fromClient(chunk);
    this.sniffed.push(chunk);
    this.sniffedBytes += chunk.length;
    const head = Buffer.concat(this.sniffed);
    const n = Math.min(head.length, H2_PREFACE.length);
    if (!head.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
      this.passThrough(head[0] === TLS_HANDSHAKE ? "TLS (encrypted: request faults off for this connection)" : "not HTTP/2 in cleartext (no connection preface)");
      this.sniffed = [];
      if (this.early.length > 0) this.host.toClient(Buffer.concat(this.early));
      this.early = [];
      return this.host.toUpstream(head);
    }
    if (head.length < H2_PREFACE.length) return true;
    this.sniffed = [];
    this.start();
    const ok = this.term!.fromClient(head);
    for (const b of this.early) this.term!.fromUpstream(b);
    this.early = [];
    if (this.clientEndedEarly) this.term!.clientEnded();
    return ok;
  }

  fromUpstream(chunk: Buffer): boolean {
    if (this.dead) return true;
    if (this.passing) return this.host.toClient(chunk);
    if (this.term) return this.term.fromUpstream(chunk);
    // the server spoke before the client's preface: an HTTP/2 server may (its SETTINGS), so it
    // waits here, bounded, until the client's first bytes decide
    this.early.push(chunk);
    this.earlyBytes += chunk.length;
    const first = this.early[0]!;
    if (this.earlyBytes <= 64 * 1024 && (first.length < 4 || first[3] === 4)) return true;
    this.passThrough("the server spoke first, and not HTTP/2");
    const pending = Buffer.concat(this.sniffed);
    this.sniffed = [];
    if (pending.length > 0) this.host.toUpstream(pending);
    const early = Buffer.concat(this.early);
    this.early = [];
    return this.host.toClient(early);
  }

  clientEnded(): void {
    if (this.passing) this.host.endUpstream();
    else if (this.term) this.term.clientEnded();
    else if (this.sniffedBytes === 0) this.host.endUpstream();
    else {
      // a partial preface then FIN: what came goes on as it is
      this.passThrough("not HTTP/2 in cleartext (connection ended before the preface)");
      this.host.toUpstream(Buffer.concat(this.sniffed));
      this.sniffed = [];
      this.host.endUpstream();
    }
    this.clientEndedEarly = true;
  }

  upstreamEnded(): void {
    if (this.term) this.term.upstreamEnded();
    else this.host.endClient();
  }

  clientDrained(): void {
    if (this.passing) this.onUpstreamDemand?.();
    else this.term?.clientDrained();
  }

  upstreamDrained(): void {
    if (this.passing) this.onClientDemand?.();
    else this.term?.upstreamDrained();
  }

  destroy(): void {
    this.dead = true;
    this.term?.destroy();
  }

  private passThrough(reason: string): void {
    this.passing = true;
    this.host.passthrough(reason);
  }

  private start(): void {
    this.term = this.splice();
    this.term.onClientDemand(() => this.onClientDemand?.());
    this.term.onUpstreamDemand(() => this.onUpstreamDemand?.());
  }

  private splice(): H2Splice {
    const host = this.host;
    return new H2Splice({
      decide: (call) => host.decide(call),
      identifying: () => host.identifying?.() === true,
      toClient: (b) => host.toClient(b),
      toUpstream: (b) => host.toUpstream(b),
      endClient: () => host.endClient(),
      endUpstream: () => host.endUpstream(),
      resetConnection: (reason) => {
        this.dead = true;
        host.resetConnection(reason);
      },
      settled: (call, outcome, seconds, detail) => host.settled(call, outcome, seconds, detail),
      broken: (side, reason) => host.broken(side, reason),
      close: () => {
        if (!this.dead) host.close();
      },
    });
  }
}
