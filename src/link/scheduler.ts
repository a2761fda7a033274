// Who sends next on a shared link: the queueing discipline over the connections (flows) that
// have segments waiting. Pure bookkeeping, O(1) per segment whatever the number of flows:
//   fair: round-robin, one segment per backlogged flow per turn; a flow that becomes
//         backlogged goes first once, then joins the end of the round;
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

/**
 * Round-robin over backlogged flows, one segment each per turn. A flow that had nothing waiting
 * goes first, once (as fq_codel's new flows), then joins the end of the round: a small request
 * waits for the segment on the wire, not for a round of every bulk transfer.
 */
export class FairScheduler<F> implements Scheduler<F> {
  readonly discipline = "fair";
  /** the round: the next flow to serve, its neighbours the rest */
  private cursor: FlowSlot<F> | null = null;
  /** flows that became backlogged, served once each before the round, in arrival order */
  private fresh: FlowSlot<F>[] = [];
  private freshHead = 0;

  get backlogged(): boolean {
    this.skipDeadFresh();
    return this.cursor !== null || this.freshHead < this.fresh.length;
  }

  add(slot: FlowSlot<F>, segments: number): void {
    if (slot.dead || segments <= 0) return;
    const wasIdle = slot.waiting === 0;
    slot.waiting += segments;
    if (wasIdle && !slot.inRing) this.fresh.push(slot);
  }

  next(): F | null {
    this.skipDeadFresh();
    if (this.freshHead < this.fresh.length) {
      const slot = this.fresh[this.freshHead]!;
      this.fresh[this.freshHead++] = undefined as unknown as FlowSlot<F>;
      if (this.freshHead >= this.fresh.length) {
        this.fresh = [];
        this.freshHead = 0;
      }
      if (--slot.waiting > 0) this.link(slot);
      return slot.flow;
    }
    const slot = this.cursor;
    if (slot === null) return null;
    if (--slot.waiting > 0) this.cursor = slot.next;
    else this.unlink(slot);
    return slot.flow;
  }

  remove(slot: FlowSlot<F>): void {
    slot.dead = true; // skipped if it waits among the fresh
    if (slot.inRing) this.unlink(slot);
    slot.waiting = 0;
  }

  private skipDeadFresh(): void {
    while (this.freshHead < this.fresh.length && this.fresh[this.freshHead]!.dead) {
      this.fresh[this.freshHead++] = undefined as unknown as FlowSlot<F>;
    }
    if (this.freshHead > 0 && this.freshHead >= this.fresh.length) {
      this.fresh = [];
      this.freshHead = 0;
    }
  }

  /** Joins the round at its end (just before the cursor). */
  private link(slot: FlowSlot<F>): void {
    slot.inRing = true;
    const c = this.cursor;
    if (c === null) {
      slot.prev = slot.next = slot;
      this.cursor = slot;
    } else {
      const last = c.prev!;
      last.next = slot;
      slot.prev = last;
      slot.next = c;
      c.prev = slot;
    }
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
