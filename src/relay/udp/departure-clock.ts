// The bandwidth clock of datagram links: when may a datagram of `size` bytes that arrived at
// `arrival` leave (departure = max(arrival, last departure) + size / bandwidth, as in
// link/timing.ts). A flow's direction has one of its own, or shares one with the flows of its
// client address (share: client) or of the whole proxy (share: proxy). On a shared clock with
// queue: fair, a flow holding more than its share of the bound (bound / flows sharing it) while
// the clock is backlogged is dropped first, so one flooding flow cannot starve the others.
import type { QueueDiscipline } from "../../profiles/types.js";

interface Departed {
  at: number;
  size: number;
}

export class DepartureClock {
  private last = -Infinity;
  private members = 0;
  /** per member, its datagrams still waiting for the clock (fair only) */
  private readonly own = new Map<object, Departed[]>();

  constructor(
    readonly discipline: QueueDiscipline,
    readonly shared: boolean,
    /** called when the last member leaves a shared clock */
    private readonly onEmpty: () => void = () => {},
  ) {}

  get size(): number {
    return this.members;
  }

  join(): void {
    this.members++;
  }

  leave(): void {
    this.members = Math.max(0, this.members - 1);
    if (this.members === 0) this.onEmpty();
  }

  /** Bytes waiting for the clock at `now` (not yet departed). */
  backlogBytes(now: number, msPerByte: number): number {
    return this.last > now ? (this.last - now) / msPerByte : 0;
  }

  /**
   * Fair sharing: true when `member` already holds more than its allowance at `now`: an equal
   * share of the bound, or what the others leave of it when they use less (as SharedLink's
   * allowance for TCP), so a lone busy flow may use the whole bound.
   */
  overShare(member: object, now: number, bound: number, msPerByte: number): boolean {
    if (!this.shared || this.discipline !== "fair" || this.members < 2) return false;
    const list = this.own.get(member);
    if (list === undefined) return false;
    let held = 0;
    let drop = 0;
    for (const d of list) {
      if (d.at <= now) drop++;
      else held += d.size;
    }
    if (drop > 0) list.splice(0, drop);
    if (list.length === 0) this.own.delete(member);
    const others = this.backlogBytes(now, msPerByte) - held;
    return held > Math.max(bound / this.members, bound - others);
  }

  /** The datagram's departure; the clock moves on by its serialization time. */
  depart(member: object, arrival: number, size: number, msPerByte: number): number {
    const departure = Math.max(arrival, this.last) + size * msPerByte;
    this.last = departure;
    if (this.shared && this.discipline === "fair") {
      let list = this.own.get(member);
      if (list === undefined) this.own.set(member, (list = []));
      list.push({ at: departure, size });
    }
    return departure;
  }

  /** Forgets a member's waiting datagrams (it closed). */
  forget(member: object): void {
    this.own.delete(member);
  }
}

/** The shared clocks of one proxy's flows, by scope, direction and bandwidth. */
export class DepartureClocks {
  private readonly clocks = new Map<string, DepartureClock>();

  get size(): number {
    return this.clocks.size;
  }

  /** The clock a flow's direction runs: shared (client, proxy) or a new one of its own. */
  clockFor(dir: "up" | "down", share: "connection" | "client" | "proxy", queue: QueueDiscipline, clientAddress: string, bandwidth: number | null): DepartureClock | null {
    if (bandwidth === null) return null;
    if (share === "connection") return new DepartureClock(queue, false);
    const key = `${dir}|${share}|${share === "proxy" ? "" : clientAddress}|${queue}|${bandwidth}`;
    let clock = this.clocks.get(key);
    if (clock === undefined) {
      const created: DepartureClock = new DepartureClock(queue, true, () => {
        if (this.clocks.get(key) === created) this.clocks.delete(key);
      });
      clock = created;
      this.clocks.set(key, clock);
    }
    return clock;
  }
}
