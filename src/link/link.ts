// One direction of an impaired link: a queue of scheduled pieces and at most one timer, for the
// head of the queue. Bytes enter with push(), leave through the sink at their release time.
// A full queue tells the caller to pause the sender (as a full TCP window would); a sink that
// cannot take more (socket buffer full) stops the queue until resume().
//
// On its own, a Link runs its own bandwidth clock (LinkTiming.schedule). Attached to a
// SharedLink, its segments first wait in `waiting` until the shared clock lets them depart
// (depart()); from there delay, jitter, loss, stalls and order are still this Link's own.
// Only the segments within the connection's share of the bound are admitted to the shared
// queue; the rest of a chunk waits here, as unsent bytes in a sender's buffer would, so the
// shared queue (and a fifo queue's delay) stays within the bound whatever the chunk sizes.
import type { DirectionSpec } from "../profiles/types.js";
import type { Now, Random } from "../clock.js";
import type { StallSchedule } from "../faults/stall.js";
import { LinkTiming, type ScheduledPiece } from "./timing.js";
import { streamQueueBound } from "./bound.js";
import type { SharedLink } from "./shared.js";
import type { SharedFlow } from "./shared-clock.js";
import type { FlowSlot } from "./scheduler.js";
import { PieceQueue, type Release } from "./pieces.js";
import type { WriteModeration } from "./moderation.js";

export { queueBound, streamQueueBound, MIN_QUEUE_BYTES, MIN_QUEUE_MS, UNLIMITED_QUEUE_BYTES } from "./bound.js";

/**
 * Called once the bytes of a pushed chunk have all been written: its buffer may be reused; with
 * a truthy `dropped` when they never will be (the buffer is then left to the collector).
 */
export type { Release } from "./pieces.js";

export interface LinkSink {
  /**
   * Hands bytes to the far side; false when it is full (the link waits for resume()). `done`,
   * when given, is called once the write is done (the last piece of a lent chunk).
   */
  write(buf: Buffer, done: Release | null): boolean;
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

/** A segment waiting for the shared clock: `len` bytes at `off` of the chunk `buf`. */
interface WaitingSegment {
  buf: Buffer;
  off: number;
  len: number;
  /** the release of the chunk this segment ends (lent chunks), else null */
  done: Release | null;
  arrival: number;
  /** when it entered the shared queue (its arrival for the shared clock) */
  admitted: number;
}

/** A timer may fire up to 1 ms early; pieces due within this margin go out on this tick. */
export const EARLY_MS = 0.5;
/** What a member of a shared link may hold back beyond its share of the shared queue: one socket read. */
export const HELD_READ_BYTES = 64 * 1024;

export class Link implements SharedFlow {
  private readonly timing: LinkTiming;
  /** the pieces scheduled (departed, on a shared link), in release order */
  private readonly queue = new PieceQueue();
  private bytes = 0;
  private bound: number;
  private timer: NodeJS.Timeout | null = null;
  /** the last timer that fired, and its wait (ms): re-armed with refresh() for the same wait */
  private spare: NodeJS.Timeout | null = null;
  private spareMs = 0;
  /** set instead of `timer` when the head is already due: setTimeout cannot wait less than 1 ms */
  private immediate: NodeJS.Immediate | null = null;
  private blocked = false;
  private reportedFull = false;
  /** the last push found the queue full: the sender was held back with bytes waiting */
  private heldBack = false;
  private closed = false;
  private lastDelivered = -Infinity;
  /** the release that began the last run as it would be unmoderated (depart(): write moderation) */
  private naturalStart = -Infinity;
  /** the release of the segment depart() took last (the spacing of this member's turns) */
  private lastDeparted = -Infinity;
  private readonly scratch: ScheduledPiece[] = [];
  private shared: SharedLink<Link> | null = null;
  private slot: FlowSlot<Link> | null = null;
  private waiting: WaitingSegment[] = [];
  private waitHead = 0;
  /** waiting[waitHead, admittedEnd) are in the shared queue; the rest are held back */
  private admittedEnd = 0;
  /** bytes of the held-back segments */
  private heldBytes = 0;
  /** counted by the shared link as a member with bytes queued (and a sink that takes them) */
  private countedBusy = false;
  /** bytes this link has counted in the shared link's queue (admitted, in flight, undelivered) */
  private countedQueued = 0;

  constructor(
    spec: DirectionSpec,
    stall: StallSchedule | null,
    private readonly sink: LinkSink,
    private readonly events: LinkEvents,
    private readonly now: Now,
    random: Random,
    shared: SharedLink<Link> | null = null,
    moderation: WriteModeration | null = null,
  ) {
    this.timing = new LinkTiming(spec, stall, random, moderation);
    this.bound = streamQueueBound(spec);
    if (shared !== null) {
      this.shared = shared;
      this.slot = shared.join(this, spec);
    }
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  get full(): boolean {
    return this.bytes >= this.limit;
  }

  get idle(): boolean {
    return this.queue.length === 0 && this.waitHead >= this.waiting.length;
  }

  /** The shared link this one is a member of, or null (its own bandwidth clock). */
  get sharedLink(): SharedLink<Link> | null {
    return this.shared;
  }

  /**
   * Bytes this link may hold before its sender is paused: its bound; on a shared link, its
   * allowance of the shared queue plus one socket read held back (as a sender's buffer), so the
   * sender is read again before the held bytes run out and the connection never misses a turn.
   */
  private get limit(): number {
    if (this.shared === null) return this.bound;
    // a member whose sink is full gets no read held back: it stops at its allowance
    return this.shared.allowance(this.countedQueued) + (this.blocked ? 0 : HELD_READ_BYTES);
  }

  get spec(): DirectionSpec {
    return this.timing.direction;
  }

  /**
   * Queues a chunk. Returns false when the queue is full: pause the sender until onWritable.
   * `done`: the chunk is lent (a reusable read buffer), not given: called once its last byte is
   * written (never when the link drops it: an earlier piece may still be in a socket write).
   */
  push(chunk: Buffer, done: Release | null = null): boolean {
    if (this.closed) return true;
    const arrival = this.now();
    const backlogged = this.heldBack;
    this.heldBack = false;
    if (this.shared !== null) {
      this.enqueueShared(chunk, arrival, false, done);
    } else {
      const wasIdle = this.idle;
      this.enqueue(chunk, arrival, done, backlogged);
      if (wasIdle) {
        // Bytes already due on an idle link (a link that shapes nothing measurable) leave now,
        // without a trip through the event loop.
        if (!this.blocked && this.queue.release(0) <= arrival + EARLY_MS) this.flush();
        else this.arm();
      }
    }
    if (this.full) {
      this.reportedFull = true;
      this.heldBack = true;
      return false;
    }
    return true;
  }

  /**
   * A new link for this direction: queued bytes are re-timed by it at once (also those that
   * already left the shared clock). `shared` is the shared link to run on (null: its own clock).
   */
  reconfigure(spec: DirectionSpec, stall: StallSchedule | null, shared: SharedLink<Link> | null = null): void {
    if (this.closed) return;
    // Pieces already due have crossed the link and only wait for a full sink: they stay as they
    // are. The rest is re-timed, continuing after the last of those.
    const now = this.now();
    const queue = this.queue;
    let due = 0;
    let dueBytes = 0;
    let lastDue = this.lastDelivered;
    while (due < queue.length && queue.release(due) <= now) {
      dueBytes += queue.len(due);
      lastDue = Math.max(lastDue, queue.release(due));
      due++;
    }
    this.timing.configure(spec, stall);
    this.timing.restartClock(lastDue);
    this.heldBack = false;
    this.bound = streamQueueBound(spec);
    const pending: { buf: Buffer; arrival: number; done: Release | null }[] = [];
    for (let i = due; i < queue.length; i++) pending.push({ buf: queue.view(i), arrival: queue.arrival(i), done: queue.done(i) });
    for (let i = this.waitHead; i < this.waiting.length; i++) {
      const w = this.waiting[i]!;
      pending.push({ buf: w.buf.subarray(w.off, w.off + w.len), arrival: w.arrival, done: w.done });
    }
    queue.truncate(due);
    this.waiting = [];
    this.waitHead = 0;
    this.admittedEnd = 0;
    this.heldBytes = 0;
    this.addBytes(dueBytes - this.bytes);
    this.disarm();
    if (this.shared !== null && this.shared === shared) {
      this.slot = shared.rejoin(this.slot!, this, spec);
    } else {
      if (this.shared !== null) this.shared.leave(this.slot!, this.countedBusy, this.countedQueued);
      this.countedBusy = false;
      this.countedQueued = 0;
      this.shared = shared;
      this.slot = shared?.join(this, spec) ?? null;
    }
    for (const piece of pending) {
      if (this.shared !== null) this.enqueueShared(piece.buf, piece.arrival, true, piece.done);
      else this.enqueue(piece.buf, piece.arrival, piece.done, false);
    }
    this.arm();
    this.checkWritable();
  }

  /** The sink drained: carry on delivering. */
  resume(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.updateShared();
    this.flush();
  }

  /** Drops everything queued (the far side is gone). */
  discard(): void {
    for (let i = 0; i < this.queue.length; i++) this.queue.done(i)?.(true);
    for (let i = this.waitHead; i < this.waiting.length; i++) this.waiting[i]!.done?.(true);
    this.queue.truncate(0);
    const hadWaiting = this.waitHead < this.waiting.length;
    this.waiting = [];
    this.waitHead = 0;
    this.admittedEnd = 0;
    this.heldBytes = 0;
    this.addBytes(-this.bytes);
    // the scheduler may still count segments of this link: a fresh slot forgets them
    if (hadWaiting && this.shared !== null) this.slot = this.shared.renew(this.slot!, this);
    this.disarm();
  }

  close(): void {
    this.discard();
    this.closed = true;
    if (this.shared !== null) this.shared.leave(this.slot!, this.countedBusy, this.countedQueued);
    this.countedBusy = false;
    this.countedQueued = 0;
    this.shared = null;
    this.slot = null;
  }

  // ---- as a member of a shared link (SharedFlow) ----------------------------------------------

  headArrival(): number {
    return this.waitHead < this.admittedEnd ? this.waiting[this.waitHead]!.admitted : -Infinity;
  }

  headSize(): number {
    return this.waitHead < this.admittedEnd ? this.waiting[this.waitHead]!.len : 0;
  }

  depart(departure: number, serialization: number): void {
    if (this.waitHead >= this.admittedEnd) return;
    const seg = this.waiting[this.waitHead]!;
    this.waiting[this.waitHead] = undefined as unknown as WaitingSegment;
    this.waitHead++;
    if (this.waitHead >= this.waiting.length) {
      this.waiting = [];
      this.waitHead = 0;
      this.admittedEnd = 0;
    } else if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitHead);
      this.admittedEnd -= this.waitHead;
      this.waitHead = 0;
    }
    const release = this.timing.releaseAt(departure, serialization);
    this.reportLoss();
    const queue = this.queue;
    const n = queue.length;
    const contiguous = n > 0 && queue.done(n - 1) === null && this.timing.direction.slice === null && queue.buf(n - 1) === seg.buf && queue.off(n - 1) + queue.len(n - 1) === seg.off;
    // a piece of its own unmoderated (counted for write moderation) unless it would join a run
    // that began within coalesceMs
    if (!contiguous || release - this.naturalStart >= this.timing.coalesceMs) {
      this.timing.countPieces(1);
      this.naturalStart = release;
    }
    // Write moderation (moderation.ts): this member's segments come a turn apart, one by one as
    // the shared clock departs them, so a run cannot be seen whole ahead as schedule() sees it.
    // A segment that does not end its chunk is held until the turn the run's last segment is
    // expected (never past the window); the segments departing meanwhile join it; the one that
    // ends the chunk lets the run go at its own release.
    const spacing = Math.max(seg.len * this.timing.msPerByteNow, release - this.lastDeparted);
    this.lastDeparted = release;
    const window = this.timing.mergeWindow(spacing);
    const endsChunk = seg.off + seg.len === seg.buf.length;
    if (contiguous && release - queue.first(n - 1) < window) {
      const held = queue.release(n - 1);
      const at = endsChunk ? release : Math.max(release, held);
      queue.extendLast(seg.len, at, seg.done);
      // the head's timer was armed for the held time: a run let go sooner needs it sooner
      if (n === 1 && at < held) {
        this.disarm();
        this.arm();
      }
      return;
    }
    const hold = window > this.timing.coalesceMs && !endsChunk && this.timing.direction.slice === null ? Math.max(0, window - spacing) : 0;
    queue.push(seg.buf, seg.off, seg.len, seg.done, seg.arrival, release + hold, release);
    if (n === 0) this.arm();
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Changes the byte count. */
  private addBytes(delta: number): void {
    this.bytes += delta;
    this.updateShared();
  }

  /**
   * Keeps the shared link's counts true: its queued bytes (all but the held-back ones), and
   * whether this member is busy. The bound is split between the members that have bytes queued
   * and a sink that takes them: a connection whose client stopped reading holds what it has (it
   * is paused) but does not shrink the others' shares.
   */
  private updateShared(): void {
    if (this.shared === null) return;
    const queued = this.bytes - this.heldBytes;
    if (queued !== this.countedQueued) {
      this.shared.addQueued(queued - this.countedQueued);
      this.countedQueued = queued;
    }
    const busy = this.bytes > 0 && !this.blocked;
    if (busy !== this.countedBusy) {
      this.countedBusy = busy;
      this.shared.setBusy(busy);
    }
  }

  private enqueue(buf: Buffer, arrival: number, done: Release | null, backlogged: boolean): void {
    const pieces = this.timing.schedule(arrival, buf.length, this.scratch, backlogged);
    const lastIndex = pieces.length - 1;
    for (let i = 0; i <= lastIndex; i++) {
      const p = pieces[i]!;
      this.queue.push(buf, p.offset, p.size, i === lastIndex ? done : null, arrival, p.release, p.release);
    }
    pieces.length = 0;
    this.addBytes(buf.length);
    this.reportLoss();
  }

  /** Cuts a chunk into segments waiting for the shared clock, and admits what the share allows. */
  private enqueueShared(buf: Buffer, arrival: number, defer: boolean, done: Release | null): void {
    const seg = this.timing.pieceSize();
    for (let offset = 0; offset < buf.length; offset += seg) {
      const end = Math.min(offset + seg, buf.length);
      this.waiting.push({ buf, off: offset, len: end - offset, done: end === buf.length ? done : null, arrival, admitted: arrival });
    }
    this.heldBytes += buf.length;
    this.addBytes(buf.length);
    this.admit(defer);
  }

  /**
   * Moves held-back segments into the shared queue while this connection's bytes in the link
   * (admitted and in flight) are below its allowance (at least two segments); at least one when
   * it has none. Nothing while
   * the sink is full: a receiver that does not read closes its window, and its sender stops
   * taking the link (the drain admits again).
   */
  private admit(defer: boolean): void {
    if (this.shared === null || this.blocked || this.admittedEnd >= this.waiting.length) return;
    // at least two segments: one in flight or waiting while the next waits its turn, so a
    // greedy connection stays in the round even when the bound split N ways is below a segment
    const share = Math.max(this.shared.allowance(this.countedQueued), 2 * this.timing.pieceSize());
    let inLink = this.bytes - this.heldBytes;
    let n = 0;
    const now = this.now();
    while (this.admittedEnd < this.waiting.length && (inLink < share || inLink === 0)) {
      const seg = this.waiting[this.admittedEnd++]!;
      seg.admitted = now;
      inLink += seg.len;
      this.heldBytes -= seg.len;
      n++;
    }
    this.updateShared();
    if (n > 0) this.shared.add(this.slot!, n, defer);
  }

  private reportLoss(): void {
    if (this.timing.lostSegments > 0) {
      this.events.onLoss?.(this.timing.lostSegments);
      this.timing.lostSegments = 0;
    }
  }

  private arm(): void {
    if (this.timer !== null || this.immediate !== null || this.blocked || this.closed || this.queue.length === 0) return;
    const wait = this.queue.release(0) - this.now();
    if (wait === Infinity) return; // bandwidth 0: nothing leaves until the link is reconfigured
    if (wait <= EARLY_MS) {
      this.immediate = setImmediate(this.flush);
      return;
    }
    // timers fire on whole milliseconds of the loop's clock, and the flush takes what is due
    // within EARLY_MS: a wait of 20.3 ms is armed for 20 (ceil of 19.8), not 21, so a release
    // is as often early as late by a fraction of a millisecond instead of always late (a 20 ms
    // link added 20.8 ms at p50); at a steady rate the wait repeats and one Timeout serves
    const ms = Math.max(1, Math.ceil(wait - EARLY_MS));
    if (this.spare !== null && this.spareMs === ms) this.timer = this.spare.refresh();
    else {
      this.timer = this.spare = setTimeout(this.flush, ms);
      this.spareMs = ms;
    }
  }

  private disarm(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.spare = null; // a cleared Timeout cannot be refreshed
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
    const due = now + EARLY_MS;
    const queue = this.queue;
    const onDelay = this.events.onDelay;
    // Slicing promises the receiver separate reads: a late timer must not merge due pieces
    // into one write, so a slicing link hands over one piece per tick.
    const onePerTick = this.timing.direction.slice !== null;
    let corked = false;
    let written = 0;
    while (queue.length > 0 && !this.blocked && !this.closed) {
      if (queue.release(0) > due || (onePerTick && written > 0)) break;
      written++;
      // the due pieces that follow in the same chunk go in the same write: one view of them all
      const buf = queue.buf(0);
      const off = queue.off(0);
      let end = off + queue.len(0);
      let done = queue.done(0);
      let release = queue.release(0);
      onDelay?.((now - queue.arrival(0)) / 1000);
      queue.shift();
      while (!onePerTick && done === null && queue.length > 0 && queue.buf(0) === buf && queue.off(0) === end && queue.release(0) <= due) {
        end += queue.len(0);
        done = queue.done(0);
        release = queue.release(0);
        onDelay?.((now - queue.arrival(0)) / 1000);
        queue.shift();
      }
      this.addBytes(off - end);
      this.lastDelivered = release;
      // several writes due together go out as one writev; a single one as a plain write
      if (!corked && !onePerTick && this.sink.cork && queue.length > 0 && queue.release(0) <= due) {
        this.sink.cork();
        corked = true;
      }
      if (!this.sink.write(off === 0 && end === buf.length ? buf : buf.subarray(off, end), done)) this.blocked = true;
    }
    if (corked) this.sink.uncork?.();
    if (this.closed) return;
    if (this.blocked) this.updateShared();
    this.admit(false);
    this.checkWritable();
    if (this.idle) this.events.onIdle();
    else this.arm();
  };

  private checkWritable(): void {
    // Resume the sender while a quarter of the bound is still queued beyond the bytes in flight,
    // so the bandwidth clock never idles waiting for the sender to wake up.
    // (not while the sink is full: its drain resumes the sender, through the connection)
    if (this.reportedFull && !this.blocked && this.bytes <= this.limit * 0.75) {
      this.reportedFull = false;
      this.events.onWritable();
    }
  }
}
