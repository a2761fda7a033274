// When a connection fault fires: `after` ms or `afterBytes` bytes (both directions together)
// from the trigger origin, whichever comes first; with neither, at once.

export interface TriggerSpec {
  after: number | null;
  afterBytes: number | null;
}

export interface ArmedTrigger {
  /** Bytes delivered since the trigger origin (both directions together). */
  bytes(total: number): void;
  cancel(): void;
}

/** True when the fault fires at once (no trigger, or after 0). */
export function firesAtOnce(t: TriggerSpec): boolean {
  if (t.after === 0) return true;
  return t.after === null && t.afterBytes === null;
}

/** Arms a trigger counted from now. `fire` runs at most once, never synchronously. */
export function armTrigger(t: TriggerSpec, fire: () => void): ArmedTrigger {
  let done = false;
  let timer: NodeJS.Timeout | null = null;
  const once = (): void => {
    if (done) return;
    done = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    fire();
  };
  if (t.after !== null || t.afterBytes === null) {
    timer = setTimeout(once, t.after ?? 0);
  }
  const limit = t.afterBytes;
  return {
    bytes(total: number): void {
      if (!done && limit !== null && total >= limit) setImmediate(once);
    },
    cancel(): void {
      done = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

/** Draws whether a fault with this probability applies to a connection (once per apply). */
export function drawn(probability: number, random: () => number): boolean {
  return probability >= 1 || random() < probability;
}
