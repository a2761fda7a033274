// One direction of a UDP flow's link: the link math of src/link (the bandwidth clock, delay,
// jitter samplers, loss models, stall windows), applied per datagram, with what differs from a
// TCP link: over the queue bound a datagram is dropped (a router's tail drop) instead of pausing
// the sender; a lost datagram is gone (no retransmission); datagrams are not held in order, so
// jitter reorders them; and `duplicate` sends a second copy. Queued datagrams sit in a heap by
// release time, with one timer for the earliest.
import type { DirectionSpec } from "../../profiles/types.js";
import { isCleanDirection } from "../../profiles/types.js";
import type { Now, Random } from "../../clock.js";
import type { StallSchedule } from "../../faults/stall.js";
import { jitterSampler, type JitterSampler } from "../../link/jitter.js";
import { lossModel, type LossModel } from "../../link/loss.js";
import { queueBound } from "../../link/bound.js";
import { EARLY_MS } from "../../link/link.js";
import type { DepartureClock } from "./departure-clock.js";
import type { DatagramDropCause } from "../../control/protocol.js";

/** Why a datagram was dropped inside the agent. */
export type DropCause = DatagramDropCause;

/** Below this wait (ms) the link waits on setImmediate rather than a timer. */
const SPIN_MS = 1.5;
export const DROP_CAUSES: readonly DropCause[] = ["loss", "queue", "lose", "error", "evicted"];

export interface DatagramLinkEvents {
  /** the datagram crossed the link after `seconds` inside it */
  deliver(buf: Buffer, seconds: number): void;
  dropped(cause: DropCause, count: number): void;
  /** a duplicate was made */
  duplicated(): void;
}

interface Pending {
  buf: Buffer;
  arrival: number;
  release: number;
  seq: number;
}

/** One direction's settings as the flow's link takes them. */
export interface DatagramLinkConfig {
  spec: DirectionSpec;
  stall: StallSchedule | null;
  /** probability per datagram of a second copy */
  duplicate: number;
  /** the bandwidth clock: the flow's own, or a shared one (share client | proxy) */
  clock: DepartureClock | null;
}

export class DatagramLink {
  private spec!: DirectionSpec;
  private stall: StallSchedule | null = null;
  private duplicate = 0;
  private clock: DepartureClock | null = null;
  private msPerByte = 0;
  private bound = 0;
  private jitter: JitterSampler = () => 0;
  private loss: LossModel = { lost: () => false };
  private clean = true;
  private readonly heap: Pending[] = [];
  private heapBytes = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private armedAt = Infinity;
  private closed = false;

  constructor(
    config: DatagramLinkConfig,
    private readonly now: Now,
    private readonly random: Random,
    private readonly events: DatagramLinkEvents,
  ) {
    this.configure(config);
  }

  /** Bytes held now (waiting for their release). */
  get queuedBytes(): number {
    return this.heapBytes;
  }

  /** A new apply: datagrams already queued keep their release times; new ones take the new link. */
  configure(config: DatagramLinkConfig): void {
    if (this.clock !== null && this.clock !== config.clock) {
      this.clock.forget(this);
      this.clock.leave();
    }
    if (config.clock !== null && this.clock !== config.clock) config.clock.join();
    this.clock = config.clock;
    this.spec = config.spec;
    this.stall = config.stall;
    this.duplicate = config.duplicate;
    this.msPerByte = config.spec.bandwidth === null ? 0 : 8000 / config.spec.bandwidth;
    this.bound = queueBound(config.spec);
    this.jitter = jitterSampler(config.spec.jitterDistribution, config.spec.jitter, this.random);
    this.loss = lossModel(config.spec, this.random);
    this.clean = isCleanDirection(config.spec) && config.duplicate === 0 && config.stall === null;
  }

  push(buf: Buffer): void {
    if (this.closed) return;
    if (this.clean && this.heap.length === 0) {
      this.events.deliver(buf, 0);
      return;
    }
    const arrival = this.now();
    let departure = arrival;
    if (this.msPerByte > 0) {
      const clock = this.clock!;
      const backlog = clock.backlogBytes(arrival, this.msPerByte);
      if (backlog + buf.length > this.bound || clock.overShare(this, arrival, this.bound, this.msPerByte)) {
        this.events.dropped("queue", 1);
        return;
      }
      departure = clock.depart(this, arrival, buf.length, this.msPerByte);
    }
    if (this.loss.lost()) {
      this.events.dropped("loss", 1);
      return;
    }
    this.schedule(buf, arrival, this.releaseAt(departure));
    if (this.duplicate > 0 && this.random() < this.duplicate) {
      this.events.duplicated();
      this.schedule(buf, arrival, this.releaseAt(departure));
    }
    this.arm();
  }

  close(): number {
    this.closed = true;
    this.disarm();
    const dropped = this.heap.length;
    this.heap.length = 0;
    this.heapBytes = 0;
    this.clock?.forget(this);
    this.clock?.leave();
    this.clock = null;
    return dropped;
  }

  private releaseAt(departure: number): number {
    let release = departure + this.spec.delay + this.jitter();
    if (this.stall !== null) {
      // held, not lost: a datagram due inside a stall leaves when it ends
      for (let end = this.stall.windowEnd(release); end !== null; end = this.stall.windowEnd(release)) release = end;
    }
    return release;
  }

  private schedule(buf: Buffer, arrival: number, release: number): void {
    const heap = this.heap;
    const item: Pending = { buf, arrival, release, seq: this.seq++ };
    heap.push(item);
    this.heapBytes += buf.length;
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  private pop(): Pending {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    this.heapBytes -= top.buf.length;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const r = l + 1;
        const c = r < heap.length && before(heap[r]!, heap[l]!) ? r : l;
        if (!before(heap[c]!, last)) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }

  private arm(): void {
    if (this.closed || this.heap.length === 0) return;
    const head = this.heap[0]!.release;
    if (head >= this.armedAt) return;
    this.disarm();
    this.armedAt = head;
    const wait = head - this.now();
    // a timer fires up to ~1 ms late (the loop's millisecond clock): it is set 1 ms early and the
    // last stretch is waited out on the check phase, so a datagram's delay is kept to well under 1 ms
    if (wait <= SPIN_MS) this.immediate = setImmediate(() => this.flush());
    else this.timer = setTimeout(() => this.flush(), wait - 1);
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.armedAt = Infinity;
  }

  private flush(): void {
    this.timer = null;
    this.immediate = null;
    this.armedAt = Infinity;
    const now = this.now();
    while (!this.closed && this.heap.length > 0 && this.heap[0]!.release <= now + EARLY_MS) {
      const p = this.pop();
      this.events.deliver(p.buf, Math.max(0, now - p.arrival) / 1000);
    }
    this.arm();
  }
}

function before(a: Pending, b: Pending): boolean {
  return a.release < b.release || (a.release === b.release && a.seq < b.seq);
}
