// An experiment while a run plays: its probes sample from before the first step (the steady-state
// window) until after the last revert; the stop condition is watched during the impaired run; the
// run asks it whether the steady state holds, for the live figures, and for its samples at the end.
import { ProbeLoop } from "./probes/probe.js";
import { checkSteady } from "./slo.js";
import { availabilityEndingIn, recoveryAfter, samplesIn, summarize } from "./stats.js";
import { ms as showMs, pct } from "../report/format.js";
import type { Experiment, Sample } from "./types.js";
import type { ProbeStats, SloBreach } from "../report/figures.js";

export interface WatchHooks {
  /** the stop condition holds: the run reverts and stops */
  abort(reason: string): void;
  note(line: string): void;
}

/** What the progress line shows of a probe. */
export interface ProbeLive {
  /** over the impaired run so far */
  availability: number | null;
  /** the latest sample: its latency or its failure */
  last: string | null;
}

export interface WindowResult {
  stats: Record<string, ProbeStats>;
  breaches: SloBreach[];
}

export class ExperimentWatch {
  readonly loops: ProbeLoop[];
  /** performance.now() of the impaired run's start (0 until then) */
  private origin = 0;
  private watching = false;
  private aborted = false;
  private started = false;
  beforeWindow: { from: number; to: number } | null = null;
  afterWindow: { from: number; to: number } | null = null;

  constructor(
    readonly experiment: Experiment,
    private readonly hooks: WatchHooks,
  ) {
    this.loops = experiment.probes.map((def) => new ProbeLoop(def, (name, s) => this.onSample(name, s)));
  }

  samplesOf(probe: string): readonly Sample[] {
    return this.loops.find((l) => l.def.name === probe)?.samples ?? [];
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const l of this.loops) l.start();
  }

  /**
   * Probes a window of `ms` (the samples started in it, waited for to their end) and judges it
   * as a steady state. `stopped` cuts the wait short (then null is returned).
   */
  async steadyWindow(ms: number, where: "steadyState.before" | "steadyState.after", stopped: Promise<void>): Promise<WindowResult | null> {
    this.start();
    const from = performance.now();
    let cut = false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, ms))), stopped.then(() => (cut = true))]);
    clearTimeout(timer);
    if (cut) return null;
    const to = performance.now();
    // the samples started in the window, to their end (each ends by its timeout)
    const longest = Math.max(...this.experiment.probes.map((p) => p.timeout));
    const until = to + longest + 50;
    while (performance.now() < until && this.loops.some((l) => samplesIn(l.samples, from, to).length < l.startsIn(from, to))) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (where === "steadyState.before") this.beforeWindow = { from, to };
    else this.afterWindow = { from, to };
    return this.judgeWindow(from, to, where);
  }

  judgeWindow(from: number, to: number, where: string): WindowResult {
    const stats: Record<string, ProbeStats> = {};
    const breaches: SloBreach[] = [];
    // the probes with an slo are the hypothesis; without any slo, every probe is
    const judged = this.loops.some((l) => this.experiment.slo[l.def.name] !== undefined);
    for (const l of this.loops) {
      const s = summarize(samplesIn(l.samples, from, to));
      stats[l.def.name] = s;
      const slo = this.experiment.slo[l.def.name];
      if (slo || !judged) breaches.push(...checkSteady(l.def.name, slo, s, where));
    }
    return { stats, breaches };
  }

  /** The impaired run starts: its origin, and the stop condition is watched from now on. */
  begin(origin: number): void {
    this.origin = origin;
    this.watching = true;
  }

  /** The impaired run is over: the stop condition is no longer watched. */
  end(): void {
    this.watching = false;
  }

  get originMs(): number {
    return this.origin;
  }

  private onSample(probe: string, _s: Sample): void {
    const when = this.experiment.abortWhen;
    if (!when || !this.watching || this.aborted || when.probe !== probe) return;
    const now = performance.now();
    if (now - this.origin < when.over) return; // the window is not full yet
    const w = availabilityEndingIn(this.samplesOf(probe), now - when.over, now);
    if (w.availability === null || w.availability >= when.availabilityBelow) return;
    this.aborted = true;
    this.hooks.abort(`abortWhen: ${probe} availability ${pct(w.availability)} over the last ${showMs(when.over)} (${w.samples} samples) is below ${pct(when.availabilityBelow)}`);
  }

  /** The probes the experiment judges: those with an slo, or every probe when none has one. */
  judged(): ProbeLoop[] {
    const withSlo = this.loops.filter((l) => this.experiment.slo[l.def.name] !== undefined);
    return withSlo.length > 0 ? withSlo : this.loops;
  }

  /**
   * Keeps probing after the run until each judged probe has recovered after every step (absolute
   * performance.now() spans) that made things better and during which it failed, or until its
   * slo's recovery limit (else 2 s) plus three samples and a timeout passed since the last end.
   */
  async awaitRecoveries(spans: readonly { start: number; end: number }[], stopped: () => boolean): Promise<void> {
    const waits = this.judged().flatMap((l) => {
      const ends = spans.filter((w) => samplesIn(l.samples, w.start, w.end).some((x) => !x.ok)).map((w) => w.end);
      if (ends.length === 0) return [];
      const until = Math.max(...ends) + (this.experiment.slo[l.def.name]?.recovery ?? 2000) + 3 * l.def.every + l.def.timeout;
      return [{ l, ends, until }];
    });
    const pending = (): boolean => waits.some((w) => performance.now() < w.until && w.ends.some((at) => recoveryAfter(w.l.samples, at) === null));
    while (!stopped() && pending()) await new Promise((r) => setTimeout(r, 25));
  }

  /** Stops every probe (samples in flight are dropped). */
  stop(): void {
    for (const l of this.loops) l.stop();
  }

  live(): Record<string, ProbeLive> {
    const out: Record<string, ProbeLive> = {};
    for (const l of this.loops) {
      const since = this.origin > 0 ? l.samples.filter((s) => s.start >= this.origin) : l.samples;
      const ok = since.filter((s) => s.ok).length;
      const last = l.samples.at(-1);
      out[l.def.name] = { availability: since.length ? ok / since.length : null, last: last ? (last.ok ? showMs(last.ms) : (last.cause ?? "failed")) : null };
    }
    return out;
  }
}
