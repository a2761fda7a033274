// One direction of a link shared by several connections (a client address's, or the proxy's):
// one bandwidth clock with its scheduler, one timer, one queue bound. Each connection keeps its
// own Link for what happens per segment (delay, jitter, loss, stalls, order); only "when may this
// segment depart" is decided here. The bound (about twice the bandwidth-delay product, at least
// 64 KiB) is split between the connections that have bytes queued: one over its share is paused
// (its Link reports full), the others keep flowing; a share the others leave unused may be taken.
import type { DirectionSpec, QueueDiscipline } from "../profiles/types.js";
import type { Now } from "../clock.js";
import { SharedClock, type SharedFlow } from "./shared-clock.js";
import type { FlowSlot } from "./scheduler.js";
import { streamQueueBound } from "./bound.js";

export class SharedLink<F extends SharedFlow = SharedFlow> {
  private readonly clock: SharedClock<F>;
  private bound: number;
  private members = 0;
  /** members with bytes queued */
  private busy = 0;
  /** bytes queued by all members (admitted, in flight, not yet delivered) */
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private closed = false;

  constructor(
    readonly bandwidth: number,
    discipline: QueueDiscipline,
    spec: DirectionSpec,
    private readonly now: Now,
    /** called once the last member has left */
    private readonly onEmpty: () => void = () => {},
  ) {
    this.clock = new SharedClock<F>(bandwidth, discipline);
    this.bound = streamQueueBound(spec);
  }

  get discipline(): QueueDiscipline {
    return this.clock.discipline;
  }

  /** Members attached now. */
  get size(): number {
    return this.members;
  }

  /** An equal share of the bound between the members with bytes queued. */
  get share(): number {
    return this.bound / Math.max(1, this.busy);
  }

  /** Bytes queued by all members now. */
  get queuedBytes(): number {
    return this.queued;
  }

  /**
   * Bytes a member that has `own` queued may hold before it is paused: its equal share, or what
   * the others leave of the bound when they use less (a bulk transfer beside a few small
   * requests keeps the whole link busy; N greedy ones get a share each).
   */
  allowance(own: number): number {
    return Math.max(this.share, this.bound - (this.queued - own));
  }

  /** A member's queued bytes changed by `delta`. */
  addQueued(delta: number): void {
    this.queued += delta;
  }

  /** A member joins; `spec` (the direction it runs) sets the bound. */
  join(flow: F, spec: DirectionSpec): FlowSlot<F> {
    this.members++;
    this.bound = streamQueueBound(spec);
    return this.clock.attach(flow);
  }

  /**
   * A member re-times its queued bytes under a new apply (`spec`): its old slot is forgotten and
   * the clock starts over, as a link of its own would.
   */
  rejoin(slot: FlowSlot<F>, flow: F, spec: DirectionSpec): FlowSlot<F> {
    this.bound = streamQueueBound(spec);
    this.clock.restart();
    return this.renew(slot, flow);
  }

  /** A fresh slot for a member whose waiting segments were dropped (the scheduler forgets the old one). */
  renew(slot: FlowSlot<F>, flow: F): FlowSlot<F> {
    this.clock.detach(slot);
    return this.clock.attach(flow);
  }

  /** A member leaves (closed, or moved to another link) with what it still counted: busy, and bytes queued. */
  leave(slot: FlowSlot<F>, busy: boolean, queued = 0): void {
    this.clock.detach(slot);
    if (busy) this.busy--;
    this.queued -= queued;
    if (--this.members === 0) this.close();
  }

  /** A member's queued bytes went from none to some (true) or back to none (false). */
  setBusy(busy: boolean): void {
    this.busy += busy ? 1 : -1;
  }

  /**
   * `segments` more segments wait in the member's flow. Those that may start now depart at
   * once, unless `defer` (a re-timing: let every member re-queue first, then serve them in turn).
   */
  add(slot: FlowSlot<F>, segments: number, defer = false): void {
    this.clock.add(slot, segments);
    if (this.timer !== null || this.immediate !== null || this.closed) return;
    if (defer) this.immediate = setImmediate(this.serve);
    else this.serve();
  }

  /** Re-times queued bytes under a new apply: the clock starts over. */
  restart(): void {
    this.clock.restart();
  }

  private readonly serve = (): void => {
    this.timer = null;
    this.immediate = null;
    if (this.closed) return;
    const now = this.now();
    const next = this.clock.serve(now);
    if (next === Infinity || this.closed || this.timer !== null || this.immediate !== null) return;
    const wait = next - now;
    if (wait <= 0.5) this.immediate = setImmediate(this.serve);
    else this.timer = setTimeout(this.serve, wait);
  };

  private close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.onEmpty();
  }
}
