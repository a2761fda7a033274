// One direction of an impaired link: a queue of scheduled pieces and at most one timer, for the
// head of the queue. Bytes enter with push(), leave through the sink at their release time.
// A full queue tells the caller to pause the sender (as a full TCP window would); a sink that
// cannot take more (socket buffer full) stops the queue until resume().
import type { DirectionSpec } from "../profiles/types.js";
import type { Now, Random } from "../clock.js";
import type { StallSchedule } from "../faults/stall.js";
import { LinkTiming, type ScheduledPiece } from "./timing.js";

export interface LinkSink {
  /** Hands bytes to the far side; false when it is full (the link waits for resume()). */
  write(buf: Buffer): boolean;
  /** Optional batching of the writes of one timer tick. */
  cork?(): void;
  uncork?(): void;
}

export interface LinkEvents {
  /** time a piece spent inside the link, in seconds */
  onDelay?(seconds: number): void;
  /** segments that were delivered late as lost */
  onLoss?(segments: number): void;
  /** the queue fell back below its low mark after having been full: resume the sender */
  onWritable(): void;
  /** the queue is empty */
  onIdle(): void;
}

interface QueuedPiece {
  buf: Buffer;
  arrival: number;
  release: number;
}

/** A timer may fire up to 1 ms early; pieces due within this margin go out on this tick. */
export const EARLY_MS = 0.5;
export const MIN_QUEUE_BYTES = 64 * 1024;
export const UNLIMITED_QUEUE_BYTES = 4 * 1024 * 1024;

/** Bytes a direction may hold: about twice the bandwidth-delay product, at least 64 KiB. */
export function queueBound(spec: DirectionSpec): number {
  if (spec.bandwidth === null) return UNLIMITED_QUEUE_BYTES;
  const bdp = ((spec.bandwidth / 8) * (spec.delay + 2 * spec.jitter)) / 1000;
  return Math.max(MIN_QUEUE_BYTES, Math.ceil(2 * bdp));
}

export class Link {
  private readonly timing: LinkTiming;
  private queue: QueuedPiece[] = [];
  private head = 0;
  private bytes = 0;
  private bound: number;
  private timer: NodeJS.Timeout | null = null;
  /** set instead of `timer` when the head is already due: setTimeout cannot wait less than 1 ms */
  private immediate: NodeJS.Immediate | null = null;
  private blocked = false;
  private reportedFull = false;
  private closed = false;
  private lastDelivered = -Infinity;
  private readonly scratch: ScheduledPiece[] = [];

  constructor(
    spec: DirectionSpec,
    stall: StallSchedule | null,
    private readonly sink: LinkSink,
    private readonly events: LinkEvents,
    private readonly now: Now,
    random: Random,
  ) {
    this.timing = new LinkTiming(spec, stall, random);
    this.bound = queueBound(spec);
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  get full(): boolean {
    return this.bytes >= this.bound;
  }

  get idle(): boolean {
    return this.head >= this.queue.length;
  }

  get spec(): DirectionSpec {
    return this.timing.direction;
  }

  /** Queues a chunk. Returns false when the queue is full: pause the sender until onWritable. */
  push(chunk: Buffer): boolean {
    if (this.closed) return true;
    const arrival = this.now();
    const wasIdle = this.idle;
    this.enqueue(chunk, arrival);
    if (wasIdle) {
      // Bytes already due on an idle link (a link that shapes nothing measurable) leave now,
      // without a trip through the event loop.
      if (!this.blocked && this.queue[this.head]!.release <= arrival + EARLY_MS) this.flush();
      else this.arm();
    }
    if (this.full) {
      this.reportedFull = true;
      return false;
    }
    return true;
  }

  /** A new link for this direction: queued bytes are re-timed by it at once. */
  reconfigure(spec: DirectionSpec, stall: StallSchedule | null): void {
    if (this.closed) return;
    this.timing.configure(spec, stall);
    this.timing.restartClock(this.lastDelivered);
    this.bound = queueBound(spec);
    const pending = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    for (const piece of pending) this.enqueue(piece.buf, piece.arrival);
    this.disarm();
    this.arm();
    this.checkWritable();
  }

  /** The sink drained: carry on delivering. */
  resume(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.flush();
  }

  /** Drops everything queued (the far side is gone). */
  discard(): void {
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    this.disarm();
  }

  close(): void {
    this.closed = true;
    this.discard();
  }

  private enqueue(buf: Buffer, arrival: number): void {
    const pieces = this.timing.schedule(arrival, buf.length, this.scratch);
    for (const p of pieces) {
      const slice = p.offset === 0 && p.size === buf.length ? buf : buf.subarray(p.offset, p.offset + p.size);
      this.queue.push({ buf: slice, arrival, release: p.release });
    }
    pieces.length = 0;
    this.bytes += buf.length;
    if (this.timing.lostSegments > 0) {
      this.events.onLoss?.(this.timing.lostSegments);
      this.timing.lostSegments = 0;
    }
  }

  private arm(): void {
    if (this.timer !== null || this.immediate !== null || this.blocked || this.closed || this.idle) return;
    const wait = this.queue[this.head]!.release - this.now();
    if (wait === Infinity) return; // bandwidth 0: nothing leaves until the link is reconfigured
    if (wait <= EARLY_MS) this.immediate = setImmediate(this.flush);
    else this.timer = setTimeout(this.flush, wait);
  }

  private disarm(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
  }

  private readonly flush = (): void => {
    this.timer = null;
    this.immediate = null;
    if (this.blocked || this.closed) return;
    const now = this.now();
    const queue = this.queue;
    // Slicing promises the receiver separate reads: a late timer must not merge due pieces
    // into one write, so a slicing link hands over one piece per tick.
    const onePerTick = this.timing.direction.slice !== null;
    let corked = false;
    let written = 0;
    while (this.head < queue.length && !this.blocked && !this.closed) {
      const piece = queue[this.head]!;
      if (piece.release > now + EARLY_MS || (onePerTick && written > 0)) break;
      written++;
      queue[this.head] = undefined as unknown as QueuedPiece; // let the buffer go
      this.head++;
      this.bytes -= piece.buf.length;
      this.lastDelivered = piece.release;
      if (!corked && !onePerTick && this.sink.cork) {
        this.sink.cork();
        corked = true;
      }
      this.events.onDelay?.((now - piece.arrival) / 1000);
      if (!this.sink.write(piece.buf)) this.blocked = true;
    }
    if (corked) this.sink.uncork?.();
    if (this.closed) return;
    if (this.head >= queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
    this.checkWritable();
    if (this.idle) this.events.onIdle();
    else this.arm();
  };

  private checkWritable(): void {
    // Resume the sender while a quarter of the bound is still queued beyond the bytes in flight,
    // so the bandwidth clock never idles waiting for the sender to wake up.
    if (this.reportedFull && this.bytes <= this.bound * 0.75) {
      this.reportedFull = false;
      this.events.onWritable();
    }
  }
}
