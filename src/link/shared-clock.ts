// The bandwidth clock of a shared link, as pure math: flows hand it segments (through a
// scheduler), it says which one departs next and when. No timers; time comes in as numbers (ms).
//
//   start     = max(the previous departure, the segment's arrival)
//   departure = start + size / bandwidth
// A segment is taken when its transmission starts (start <= now), so the scheduler decides at
// the moment a real link would; a late timer costs no bandwidth (starts are virtual times).
import type { QueueDiscipline } from "../profiles/types.js";
import { FlowSlot, makeScheduler, type Scheduler } from "./scheduler.js";

/** What the clock needs of a flow (a connection's Link). */
export interface SharedFlow {
  /** arrival time (ms) of the flow's head waiting segment */
  headArrival(): number;
  /** size (bytes) of the flow's head waiting segment */
  headSize(): number;
  /** the head waiting segment left the shared link at `departure` (ms): the flow takes it from here */
  depart(departure: number, serialization: number): void;
}

/** Segments whose transmission starts this close after `now` are taken on this call (timers fire early). */
export const START_EARLY_MS = 0.5;

export class SharedClock<F extends SharedFlow> {
  private msPerByte: number;
  private lastDeparture = -Infinity;
  private scheduler: Scheduler<F>;

  constructor(
    bandwidth: number,
    discipline: QueueDiscipline,
  ) {
    this.msPerByte = 8000 / bandwidth;
    this.scheduler = makeScheduler<F>(discipline);
  }

  get discipline(): QueueDiscipline {
    return this.scheduler.discipline;
  }

  get backlogged(): boolean {
    return this.scheduler.backlogged;
  }

  /** A flow joins: segments it adds are served through the returned slot. */
  attach(flow: F): FlowSlot<F> {
    return new FlowSlot(flow);
  }

  /** `segments` more segments wait in the slot's flow. */
  add(slot: FlowSlot<F>, segments: number): void {
    this.scheduler.add(slot, segments);
  }

  detach(slot: FlowSlot<F>): void {
    this.scheduler.remove(slot);
  }

  /** Forgets the clock, for re-timing queued bytes: they depart as if the link had been idle. */
  restart(): void {
    this.lastDeparture = -Infinity;
  }

  /**
   * Takes every segment whose transmission starts by `now` (+ START_EARLY_MS), handing each to
   * its flow. Returns when the next one starts (ms), or Infinity when nothing waits or nothing
   * can leave (bandwidth 0).
   */
  serve(now: number): number {
    if (!Number.isFinite(this.msPerByte)) return Infinity;
    const scheduler = this.scheduler;
    while (this.lastDeparture <= now + START_EARLY_MS) {
      const flow = scheduler.next();
      if (flow === null) return Infinity;
      const serialization = flow.headSize() * this.msPerByte;
      const start = Math.max(this.lastDeparture, flow.headArrival());
      this.lastDeparture = start + serialization;
      flow.depart(this.lastDeparture, serialization);
    }
    return scheduler.backlogged ? this.lastDeparture : Infinity;
  }
}
