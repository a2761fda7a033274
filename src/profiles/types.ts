import type { RequestRule } from "../requests/rule.js";

// The one resolved impairment type. Profiles (YAML), inline specs, `set` overrides, scenarios
// and the Toxiproxy API all resolve to an ImpairmentSpec; the relay and link read nothing else.
//
// Canonical units of a resolved spec (it is also valid input, so it round-trips):
//   durations: milliseconds (number) · bandwidth: bits per second (number) or null = unlimited
//   sizes: bytes (number) · probabilities: 0..1 (number)

export type JitterDistribution = "uniform" | "normal" | "pareto";

/** Loss model: Bernoulli (`loss` per segment) or Gilbert-Elliott bursts. */
export interface GilbertElliottLoss {
  /** probability per segment of moving good -> bad */
  pGoodToBad: number;
  /** probability per segment of moving bad -> good */
  pBadToGood: number;
  /** loss probability while bad (default 1) */
  lossInBad: number;
  /** loss probability while good (default 0) */
  lossInGood: number;
}

export interface SliceSpec {
  /** bytes per piece (the average when `variation` is set) */
  size: number;
  /** ms between pieces */
  delay: number;
  /**
   * bytes by which piece sizes vary around `size`, cut as Toxiproxy's slicer cuts them
   * (link/slicer.ts); absent or 0 = equal pieces of `size` (at most mtu)
   */
  variation?: number;
}

/** One direction of the link (up = client -> upstream, down = upstream -> client). */
export interface DirectionSpec {
  /** bits per second; null = unlimited */
  bandwidth: number | null;
  /** one-way propagation delay, ms */
  delay: number;
  /** extra random delay, ms (mean of the distribution); 0 = none */
  jitter: number;
  jitterDistribution: JitterDistribution;
  /** Bernoulli loss probability per segment (ignored when gilbertElliott is set) */
  loss: number;
  /** Gilbert-Elliott burst loss; null = Bernoulli with `loss` */
  gilbertElliott: GilbertElliottLoss | null;
  /** retransmission timeout added to a lost segment, ms */
  rto: number;
  slice: SliceSpec | null;
  /** segment size, bytes */
  mtu: number;
  /** udp and dns proxies only: probability per datagram of a second copy (absent = 0) */
  duplicate?: number;
}

export interface StallSpec {
  every: number; // ms, period from one stall's start to the next
  duration: number; // ms, < every
  probability: number;
}

export interface ResetSpec {
  probability: number;
  /** ms after the trigger origin; null with afterBytes null = at once */
  after: number | null;
  /** bytes (both directions together) after the trigger origin */
  afterBytes: number | null;
}

export type HalfOpenMode = "drop" | "freeze";

export interface HalfOpenSpec {
  probability: number;
  after: number | null;
  afterBytes: number | null;
  mode: HalfOpenMode;
  /** ms the client side is held silent before it is reset (default 10 min) */
  hold: number;
}

export interface ConnectSpec {
  /** ms before the upstream is dialled */
  delay: number;
  /** share (0..1) of new connections reset at once */
  refuse: number;
}

export type LimitDirection = "up" | "down" | "both";

export interface LimitSpec {
  bytes: number;
  direction: LimitDirection;
  probability: number;
}

export interface SlowCloseSpec {
  /** ms a FIN is held back */
  delay: number;
  probability: number;
}

export interface CorruptSpec {
  /** per byte */
  probability: number;
}

/**
 * Who shares one link (one bandwidth clock and queue bound per direction): each connection its
 * own, all connections of one client address, or every connection of the proxy.
 */
export type ShareScope = "connection" | "client" | "proxy";
/** How backlogged connections of one shared link take turns: round-robin per segment, or arrival order. */
export type QueueDiscipline = "fair" | "fifo";

export const SHARE_SCOPES: readonly ShareScope[] = ["connection", "client", "proxy"];
export const QUEUE_DISCIPLINES: readonly QueueDiscipline[] = ["fair", "fifo"];
export const DEFAULT_SHARE: ShareScope = "client";
export const DEFAULT_QUEUE: QueueDiscipline = "fair";

export interface ImpairmentSpec {
  /** who shares the link of each direction (default client) */
  share: ShareScope;
  /** how connections of a shared link take turns (default fair) */
  queue: QueueDiscipline;
  up: DirectionSpec;
  down: DirectionSpec;
  stall: StallSpec | null;
  reset: ResetSpec | null;
  halfOpen: HalfOpenSpec | null;
  connect: ConnectSpec | null;
  limit: LimitSpec | null;
  slowClose: SlowCloseSpec | null;
  corrupt: CorruptSpec | null;
  /** request rules (protocol proxies only); [] = none */
  requests: RequestRule[];
}

/** A resolved, named profile. */
export interface ResolvedProfile {
  name: string;
  description: string;
  source: string;
  /** the chain of profiles it extends, nearest first */
  extends: string[];
  spec: ImpairmentSpec;
}

export const DEFAULT_MTU = 1460;
export const DEFAULT_RTO_MS = 200;
export const DEFAULT_HALF_OPEN_HOLD_MS = 10 * 60 * 1000;

export function cleanDirection(): DirectionSpec {
  return {
    bandwidth: null,
    delay: 0,
    jitter: 0,
    jitterDistribution: "uniform",
    loss: 0,
    gilbertElliott: null,
    rto: DEFAULT_RTO_MS,
    slice: null,
    mtu: DEFAULT_MTU,
  };
}

export function cleanSpec(): ImpairmentSpec {
  return {
    share: DEFAULT_SHARE,
    queue: DEFAULT_QUEUE,
    up: cleanDirection(),
    down: cleanDirection(),
    stall: null,
    reset: null,
    halfOpen: null,
    connect: null,
    limit: null,
    slowClose: null,
    corrupt: null,
    requests: [],
  };
}

/** True when a direction changes nothing: its bytes may take the relay's fast path. */
export function isCleanDirection(d: DirectionSpec): boolean {
  return (
    d.bandwidth === null &&
    d.delay === 0 &&
    d.jitter === 0 &&
    d.loss === 0 &&
    d.gilbertElliott === null &&
    d.slice === null &&
    !d.duplicate
  );
}

/** True when the spec changes nothing at all (equal to `clean`); `share` and `queue` alone change nothing. */
export function isCleanSpec(s: ImpairmentSpec): boolean {
  return (
    isCleanDirection(s.up) &&
    isCleanDirection(s.down) &&
    s.stall === null &&
    s.reset === null &&
    s.halfOpen === null &&
    s.connect === null &&
    s.limit === null &&
    s.slowClose === null &&
    s.corrupt === null &&
    s.requests.length === 0
  );
}
