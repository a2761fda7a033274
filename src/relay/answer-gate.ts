// Answers the agent makes in the server's place (a request rule's `fail`) reach the client as
// the server's own would: after their request's trip up the link. The rule decides before the
// up link, so the request never crosses it: without this gate a failed request over 3G was
// answered in half a round trip, where a failing server answers in a whole one. While such an
// answer waits, every byte for the client behind it waits too (answers keep their requests'
// order), and so does the client's FIN (the connection asks `holding` before it sends one).

/** Bytes the gate holds before it tells the request layer to stop (the source is paused then). */
export const GATE_LIMIT = 1 << 20;

export interface GateOutlet {
  /** bytes on their way to the client (into the down link); false when it is full */
  deliver(buf: Buffer): boolean;
  /** the gate refused bytes earlier and has let them go: the source may read again */
  drained(): void;
  /** the gate is empty: a FIN it held back may go */
  emptied(): void;
  now(): number;
  later(ms: number, fn: () => void): NodeJS.Timeout;
  cancel(timer: NodeJS.Timeout): void;
}

interface Waiting {
  buf: Buffer;
  /** now() time it may go; 0: as soon as everything before it has */
  at: number;
}

export class AnswerGate {
  private readonly waiting: Waiting[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;
  /** a write was refused (over GATE_LIMIT): tell the outlet when the gate empties below it */
  private refused = false;

  constructor(private readonly out: GateOutlet) {}

  /** True while bytes wait (the client's FIN waits behind them). */
  get holding(): boolean {
    return this.waiting.length > 0;
  }

  /** An answer made in the server's place, to reach the client `tripMs` from now (and after what waits before it). */
  answer(buf: Buffer, tripMs: number): boolean {
    if (this.waiting.length === 0 && tripMs <= 0) return this.out.deliver(buf);
    this.hold({ buf, at: this.out.now() + Math.max(0, tripMs) });
    return this.accepting();
  }

  /** Bytes for the client: straight on, or behind an answer that waits. */
  pass(buf: Buffer): boolean {
    if (this.waiting.length === 0) return this.out.deliver(buf);
    this.hold({ buf, at: 0 });
    return this.accepting();
  }

  /** Everything waiting goes now, in order (the link that asked for the trip is gone: clear, panic, ttl). */
  release(): void {
    if (this.timer !== null) this.out.cancel(this.timer);
    this.timer = null;
    this.flush(Number.POSITIVE_INFINITY);
  }

  /** The connection is gone: nothing is sent. */
  clear(): void {
    if (this.timer !== null) this.out.cancel(this.timer);
    this.timer = null;
    this.waiting.length = 0;
    this.bytes = 0;
    this.refused = false;
  }

  private hold(w: Waiting): void {
    this.waiting.push(w);
    this.bytes += w.buf.length;
    if (this.timer === null) this.arm();
  }

  private accepting(): boolean {
    if (this.bytes < GATE_LIMIT) return true;
    this.refused = true;
    return false;
  }

  private arm(): void {
    const head = this.waiting[0];
    if (head === undefined) return;
    const wait = head.at - this.out.now();
    if (wait <= 0) {
      this.flush(this.out.now());
      return;
    }
    this.timer = this.out.later(wait, () => {
      this.timer = null;
      this.flush(this.out.now());
    });
  }

  /** Sends, in order, what is due by `now`; arms the timer for the rest. */
  private flush(now: number): void {
    while (this.waiting.length > 0 && this.waiting[0]!.at <= now) {
      const w = this.waiting.shift()!;
      this.bytes -= w.buf.length;
      this.out.deliver(w.buf);
    }
    if (this.waiting.length > 0) {
      if (this.timer === null) this.arm();
      return;
    }
    this.bytes = 0;
    if (this.refused) {
      this.refused = false;
      this.out.drained();
    }
    this.out.emptied();
  }
}

/**
 * How long a request of `bytes` takes up a link to the server: the up direction's delay, and
 * its bytes at the up bandwidth (0 on a clean link). Jitter and loss are left out: an answer
 * the agent makes follows its request's mean trip.
 */
export function answerTripMs(up: { delay: number; bandwidth: number | null } | null | undefined, bytes: number): number {
  if (up === null || up === undefined) return 0;
  return up.delay + (up.bandwidth ? (bytes * 8000) / up.bandwidth : 0);
}
