// One probe on its cadence: a sample starts every `every` ms (late ticks are skipped, not piled
// up), samples may overlap when the timeout is longer than the cadence, and each one is recorded
// with its start, end and outcome.
import type { ProbeDef, Sample } from "../types.js";
import { probeExec } from "./exec.js";
import { probeHttp } from "./http.js";
import type { Outcome } from "./outcome.js";
import { probeTcp } from "./tcp.js";

export function sampleOnce(def: ProbeDef, signal: AbortSignal): Promise<Outcome> {
  switch (def.check.kind) {
    case "http":
      return probeHttp(def.check, def.timeout, signal);
    case "tcp":
      return probeTcp(def.check, def.timeout, signal);
    case "exec":
      return probeExec(def.check, def.timeout, signal);
  }
}

export class ProbeLoop {
  /** finished samples, in the order they ended */
  readonly samples: Sample[] = [];
  /** when each sample started (finished or not) */
  private readonly starts: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private origin = 0;
  private tick = 0;
  /** no new samples */
  private paused = false;
  /** samples in flight are dropped */
  private stopped = false;

  constructor(
    readonly def: ProbeDef,
    private readonly onSample: (probe: string, sample: Sample) => void = () => {},
  ) {}

  start(): void {
    this.origin = performance.now();
    this.fire();
  }

  private fire(): void {
    if (this.paused || this.stopped) return;
    const start = performance.now();
    this.starts.push(start);
    const pending = sampleOnce(this.def, this.abort.signal).then((o) => {
      const end = o.answeredAt ?? performance.now();
      if (this.stopped) return;
      const sample: Sample = { start, end, ok: o.ok, ms: end - start, ...(o.cause !== undefined ? { cause: o.cause } : {}) };
      this.samples.push(sample);
      this.onSample(this.def.name, sample);
    });
    this.inFlight.add(pending);
    void pending.finally(() => this.inFlight.delete(pending));
    // the next tick on the grid; ticks already past are skipped
    const now = performance.now();
    this.tick = Math.max(this.tick + 1, Math.ceil((now - this.origin) / this.def.every));
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.origin + this.tick * this.def.every - now));
  }

  /** How many samples started in [from, to). */
  startsIn(from: number, to: number): number {
    return this.starts.filter((t) => t >= from && t < to).length;
  }

  /** Starts no more samples and waits for those in flight (each ends by its timeout). */
  async settle(): Promise<void> {
    this.paused = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all([...this.inFlight]);
  }

  /** Stops at once: samples in flight are dropped. */
  stop(): void {
    this.paused = true;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
  }
}
