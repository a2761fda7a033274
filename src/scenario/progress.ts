// What a run shows while it plays. On a TTY: one status line redrawn each second (current step,
// time left, live throughput per proxy) with notes printed above it. Elsewhere (CI logs): the
// notes only, one line each.
import { humanDuration, humanRate } from "../report/format.js";
import type { ProbeLive } from "../experiment/watch.js";
import { pct } from "../report/format.js";
import { formatTimeLeft } from "../units.js";

export interface ProgressState {
  /** ms since the run started */
  elapsedMs: number;
  /** ms the timeline lasts (no command), or null */
  totalMs: number | null;
  /** the latest step started: "3/5 ramp 4g -> 2g" */
  step: string | null;
  /** ms left in that step, or null when it lasts until replaced */
  stepLeftMs: number | null;
  /** bytes per second by proxy since the last tick */
  throughput: Record<string, { up: number; down: number }>;
  /** with probes: availability so far and the latest sample, by probe */
  probes?: Record<string, ProbeLive>;
}

export interface ProgressSink {
  note(line: string): void;
  update(state: ProgressState): void;
  done(): void;
}

export function renderProgressLine(s: ProgressState): string {
  const parts: string[] = [];
  parts.push(s.step ? `step ${s.step}${s.stepLeftMs !== null ? ` (${formatTimeLeft(s.stepLeftMs)} left)` : ""}` : "starting");
  parts.push(s.totalMs !== null ? `${humanDuration(s.elapsedMs)} of ${humanDuration(s.totalMs)}` : humanDuration(s.elapsedMs));
  for (const [name, t] of Object.entries(s.throughput)) parts.push(`${name} up ${humanRate(t.up)} down ${humanRate(t.down)}`);
  for (const [name, p] of Object.entries(s.probes ?? {})) parts.push(`${name} ${pct(p.availability)} ok${p.last !== null ? ` (last ${p.last})` : ""}`);
  return parts.join(" | ");
}

/** Progress on a stream: a redrawn line when it is a TTY, plain notes otherwise. */
export function streamProgress(stream: NodeJS.WriteStream, prefix = "netimpair run: "): ProgressSink {
  const tty = stream.isTTY === true;
  let line = "";
  const clear = (): void => {
    if (tty && line !== "") stream.write("\r\x1b[K");
  };
  const draw = (): void => {
    if (!tty || line === "") return;
    const width = stream.columns && stream.columns > 10 ? stream.columns - 1 : 120;
    stream.write(line.length > width ? line.slice(0, width - 1) + "~" : line);
  };
  return {
    note(text) {
      clear();
      stream.write(`${prefix}${text}\n`);
      draw();
    },
    update(state) {
      if (!tty) return;
      clear();
      line = renderProgressLine(state);
      draw();
    },
    done() {
      clear();
      line = "";
    },
  };
}

/** A sink that shows nothing (tests, --json). */
export const silentProgress: ProgressSink = { note: () => {}, update: () => {}, done: () => {} };
