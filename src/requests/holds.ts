// Requests a `delay` rule holds back, per connection. A hold is a timer that can also be let go
// early: every change that takes the rule away from the connection (panic, clear, a ttl, a
// closing control session, a later apply without it, the connection no longer targeted) sends
// what it held upstream at once, in the order it was held, instead of after the delay.

/** Starts holding: `release` runs once the delay is over (or earlier); the result cancels it. */
export type Hold = (release: () => void) => () => void;

/** A hold that is only a timer (rules outside a proxy: the engine's own decisions). */
export function timerHold(ms: number): Hold {
  return (release) => {
    const t = setTimeout(release, ms);
    return () => clearTimeout(t);
  };
}

interface Held {
  rule: string;
  release: () => void;
  timer: NodeJS.Timeout;
}

/** One connection's holds, in the order they were made. */
export class HeldRequests {
  private readonly held = new Set<Held>();

  get size(): number {
    return this.held.size;
  }

  /** A hold for a decision of `rule` that waits `ms`. */
  hold(rule: string, ms: number): Hold {
    return (release) => {
      const h: Held = {
        rule,
        release,
        timer: setTimeout(() => {
          this.held.delete(h);
          release();
        }, ms),
      };
      this.held.add(h);
      return () => {
        clearTimeout(h.timer);
        this.held.delete(h);
      };
    };
  }

  /** Lets go at once, oldest first, every hold whose rule is no longer in force; returns how many. */
  releaseUnless(inForce: (rule: string) => boolean): number {
    let n = 0;
    for (const h of [...this.held]) {
      if (!this.held.has(h) || inForce(h.rule)) continue;
      clearTimeout(h.timer);
      this.held.delete(h);
      n++;
      h.release();
    }
    return n;
  }

  /** The connection is gone: nothing is released. */
  clear(): void {
    for (const h of this.held) clearTimeout(h.timer);
    this.held.clear();
  }
}
