// Who sends next on a shared link: the queueing discipline over the connections (flows) that
// have segments waiting. Pure bookkeeping, O(1) per segment whatever the number of flows:
//   fair: round-robin, one segment per backlogged flow per turn; a flow that becomes
//         backlogged joins at the end of the current round;
//   fifo: segments in arrival order across flows (a chunk's segments are one entry).
// A flow is represented by a FlowSlot, made when it attaches; a detached slot is dead and its
// entries are skipped (fifo) or unlinked (fair).
import type { QueueDiscipline } from "../profiles/types.js";

/** One attachment of a flow to a scheduler. */
export class FlowSlot<F> {
  dead = false;
  /** fair: neighbours in the ring while backlogged */
  prev: FlowSlot<F> | null = null;
  next: FlowSlot<F> | null = null;
  inRing = false;
  /** fair: segments waiting */
  waiting = 0;
  constructor(readonly flow: F) {}
}

export interface Scheduler<F> {
  readonly discipline: QueueDiscipline;
  /** `segments` new segments of this slot's flow are waiting (in its own queue, in order) */
  add(slot: FlowSlot<F>, segments: number): void;
  /** the flow whose head segment goes next (counted as taken), or null when nothing waits */
  next(): F | null;
  /** the slot's flow left: forget it */
  remove(slot: FlowSlot<F>): void;
  /** true while some flow has segments waiting */
  readonly backlogged: boolean;
}

/** Round-robin over backlogged flows, one segment each per turn. */
export class FairScheduler<F> implements Scheduler<F> {
  readonly discipline = "fair";
  private cursor: FlowSlot<F> | null = null;

  get backlogged(): boolean {
    return this.cursor !== null;
  }

  add(slot: FlowSlot<F>, segments: number): void {
    if (slot.dead || segments <= 0) return;
    slot.waiting += segments;
    if (slot.inRing) return;
    slot.inRing = true;
    const c = this.cursor;
    if (c === null) {
      slot.prev = slot.next = slot;
      this.cursor = slot;
    } else {
      // just before the cursor: the end of the current round
      const last = c.prev!;
      last.next = slot;
      slot.prev = last;
      slot.next = c;
      c.prev = slot;
    }
  }

  next(): F | null {
    const slot = this.cursor;
    if (slot === null) return null;
    if (--slot.waiting > 0) {
      this.cursor = slot.next;
    } else {
      this.unlink(slot);
    }
    return slot.flow;
  }

  remove(slot: FlowSlot<F>): void {
    slot.dead = true;
    if (slot.inRing) this.unlink(slot);
  }

  private unlink(slot: FlowSlot<F>): void {
    slot.waiting = 0;
    slot.inRing = false;
    if (slot.next === slot) {
      this.cursor = null;
    } else {
      slot.prev!.next = slot.next;
      slot.next!.prev = slot.prev;
      if (this.cursor === slot) this.cursor = slot.next;
    }
    slot.prev = slot.next = null;
  }
}

interface FifoEntry<F> {
  slot: FlowSlot<F>;
  segments: number;
}

/** Arrival order across flows. */
export class FifoScheduler<F> implements Scheduler<F> {
  readonly discipline = "fifo";
  private entries: FifoEntry<F>[] = [];
  private head = 0;

  get backlogged(): boolean {
    this.skipDead();
    return this.head < this.entries.length;
  }

  add(slot: FlowSlot<F>, segments: number): void {
    if (slot.dead || segments <= 0) return;
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined && this.head < this.entries.length && last.slot === slot) last.segments += segments;
    else this.entries.push({ slot, segments });
  }

  next(): F | null {
    this.skipDead();
    const entry = this.entries[this.head];
    if (entry === undefined) return null;
    if (--entry.segments === 0) this.advance();
    return entry.slot.flow;
  }

  remove(slot: FlowSlot<F>): void {
    slot.dead = true; // its entries are skipped when they reach the head
  }

  private skipDead(): void {
    while (this.head < this.entries.length && this.entries[this.head]!.slot.dead) this.advance();
  }

  private advance(): void {
    this.entries[this.head] = undefined as unknown as FifoEntry<F>;
    this.head++;
    if (this.head >= this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}

export function makeScheduler<F>(discipline: QueueDiscipline): Scheduler<F> {
  return discipline === "fifo" ? new FifoScheduler<F>() : new FairScheduler<F>();
}
