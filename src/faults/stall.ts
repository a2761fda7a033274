// Stall windows: both directions deliver nothing during a stall; bytes are held, not lost.
// `every` is the period from one stall's start to the next, the first beginning `every` after
// the trigger origin; `duration` is shorter than `every`. Pure: the link asks it about times.

export class StallSchedule {
  constructor(
    readonly origin: number,
    readonly every: number,
    readonly duration: number,
  ) {}

  /** The end of the stall window that contains time t, or null when t is outside every stall. */
  windowEnd(t: number): number | null {
    const since = t - this.origin;
    if (since < this.every) return null;
    const start = this.origin + Math.floor(since / this.every) * this.every;
    const end = start + this.duration;
    return t < end ? end : null;
  }

  /** The start of the first stall at or after time t. */
  nextStart(t: number): number {
    const since = t - this.origin;
    if (since <= this.every) return this.origin + this.every;
    return this.origin + Math.ceil(since / this.every) * this.every;
  }
}

/** Calls `onStall` at the start of every stall window (for counting), until cancelled. */
export function armStallCounter(schedule: StallSchedule, now: number, onStall: () => void): { cancel(): void } {
  let interval: NodeJS.Timeout | null = null;
  const first = setTimeout(() => {
    onStall();
    interval = setInterval(onStall, schedule.every);
  }, schedule.nextStart(now) - now);
  return {
    cancel(): void {
      clearTimeout(first);
      if (interval !== null) clearInterval(interval);
    },
  };
}
