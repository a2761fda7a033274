// What the HTML report draws over time: live throughput and fault counts per proxy as the run
// polled them, and every probe sample. Times are ms from the run's start (negative: the steady
// state before it).
import { FAULT_KINDS } from "../control/protocol.js";
import type { CounterSnapshot } from "./report.js";

export interface SeriesSample {
  atMs: number;
  ms: number;
  ok: boolean;
  cause?: string;
}

export interface RunSeries {
  /** bytes per second by proxy at each poll */
  throughput: { atMs: number; perProxy: Record<string, { up: number; down: number }> }[];
  /** faults the agents counted between two polls, by proxy and kind */
  faults: { atMs: number; proxy: string; kinds: Record<string, number> }[];
  samples: Record<string, SeriesSample[]>;
}

export function newSeries(): RunSeries {
  return { throughput: [], faults: [], samples: {} };
}

/** Records one poll; `last` holds the previous fault counters between calls. */
export function recordPoll(series: RunSeries, atMs: number, snap: CounterSnapshot, throughput: Record<string, { up: number; down: number }>, last: Map<string, Record<string, number>>): void {
  if (Object.keys(throughput).length > 0) series.throughput.push({ atMs: Math.round(atMs), perProxy: throughput });
  for (const [proxy, c] of Object.entries(snap)) {
    const before = last.get(proxy);
    const kinds: Record<string, number> = {};
    for (const k of FAULT_KINDS) {
      const d = before ? c.faults[k] - (before[k] ?? 0) : 0;
      if (d > 0) kinds[k] = d;
    }
    last.set(proxy, { ...c.faults });
    if (Object.keys(kinds).length > 0) series.faults.push({ atMs: Math.round(atMs), proxy, kinds });
  }
}

/** Copies the probes' samples into the series, relative to the run's start. */
/** What recordSamples reads of the experiment's watch: its origin and each probe loop's samples. */
export interface SampleSource {
  originMs: number;
  loops: readonly { def: { name: string }; samples: Iterable<{ start: number; ms: number; ok: boolean; cause?: string }> }[];
}

export function recordSamples(series: RunSeries, watch: SampleSource, originFallback: number): void {
  const origin = watch.originMs > 0 ? watch.originMs : originFallback;
  for (const loop of watch.loops) {
    series.samples[loop.def.name] = [...loop.samples]
      .sort((a, b) => a.start - b.start)
      .map((s) => ({ atMs: Math.round(s.start - origin), ms: Math.round(s.ms * 10) / 10, ok: s.ok, ...(s.cause !== undefined ? { cause: s.cause } : {}) }));
  }
}
