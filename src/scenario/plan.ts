// The timeline as a pure function: scenario steps -> a list of timed actions per proxy.
//
// Every proxy keeps a stack of the steps that impaired it (as the agent does for ttl and session
// binding). A step's start pushes its entry; a ramp's or trace's updates change their entry's
// target (and are sent only while that entry is the proxy's current one: a later step wins);
// a step's `for` ending kills its entry and, if it was current, the proxy returns to the newest
// live entry below it, else to what it had before the run ("baseline"). Ends are handled before
// starts at the same instant, and a proxy gets one action per instant (the last word wins), so
// back-to-back steps do not flicker through a restore.
import { describeAction } from "./schema.js";
import type { Scenario, ScenarioStep, TraceRow } from "./types.js";
import { traceRowSpec } from "./trace.js";
import type { SetOverrides } from "../control/protocol.js";

/** What a proxy is set to. */
export type Target =
  | { kind: "apply"; profile?: string; spec?: Record<string, unknown>; set?: SetOverrides; percent?: number; clients?: string[] }
  | { kind: "clean" }
  | { kind: "ramp"; from: string; to: string; fraction: number }
  | { kind: "baseline" };

export type ActionRole = "start" | "update" | "restore";

export interface TimelineAction {
  /** ms from the run's start */
  at: number;
  /** the step whose event this is (for a restore: the step that ended) */
  step: number;
  role: ActionRole;
  proxies: string[];
  target: Target;
}

export interface StepSpan {
  start: number;
  /** null = until the run ends */
  end: number | null;
}

export interface Timeline {
  actions: TimelineAction[];
  /** when a run without a command ends: the latest at + (for, else the ramp's over or the trace's length) */
  endsAt: number;
  /** each step's planned span (index = step index) */
  spans: StepSpan[];
  /** distinct times where a step starts or ends, ascending */
  boundaries: number[];
}

/** How long a step acts by itself: a ramp's over, a trace's last row; 0 for apply and clear. */
export function naturalLength(step: ScenarioStep): number {
  if (step.action.kind === "ramp") return step.action.over;
  if (step.action.kind === "trace") return step.action.rows.at(-1)?.time ?? 0;
  return 0;
}

/** The proxies a step acts on ("*" = every proxy given). */
export function stepProxies(step: ScenarioStep, allProxies: readonly string[]): string[] {
  return step.proxies.includes("*") ? [...allProxies] : step.proxies;
}

interface Event {
  at: number;
  step: number;
  kind: "start" | "update" | "end";
  /** start/update: the target */
  target?: Target;
  /** order of events of one step at one instant */
  seq: number;
}

function traceTarget(step: ScenarioStep, row: TraceRow): Target {
  const base = step.action.kind === "trace" ? step.action.file.replace(/^.*[\\/]/, "").replace(/\.[^.]*$/, "") : "trace";
  const name = `trace-${base}`.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
  return { kind: "apply", spec: { name, ...traceRowSpec(row) } };
}

function stepEvents(step: ScenarioStep): Event[] {
  const a = step.action;
  const events: Event[] = [];
  let seq = 0;
  const push = (at: number, kind: Event["kind"], target?: Target): void => {
    events.push({ at, step: step.index, kind, seq: seq++, ...(target ? { target } : {}) });
  };
  switch (a.kind) {
    case "apply":
      push(step.at, "start", {
        kind: "apply",
        ...(a.profile !== undefined ? { profile: a.profile } : {}),
        ...(a.spec !== undefined ? { spec: a.spec } : {}),
        ...(a.set !== undefined ? { set: a.set } : {}),
        ...(a.percent !== undefined ? { percent: a.percent } : {}),
        ...(a.clients !== undefined ? { clients: a.clients } : {}),
      });
      break;
    case "clear":
      push(step.at, "start", { kind: "clean" });
      break;
    case "ramp": {
      push(step.at, "start", { kind: "ramp", from: a.from, to: a.to, fraction: 0 });
      const n = Math.ceil(a.over / a.every);
      for (let k = 1; k <= n; k++) {
        const t = Math.min(k * a.every, a.over);
        push(step.at + t, "update", { kind: "ramp", from: a.from, to: a.to, fraction: t / a.over });
      }
      break;
    }
    case "trace":
      a.rows.forEach((row, i) => push(step.at + row.time, i === 0 ? "start" : "update", traceTarget(step, row)));
      break;
  }
  if (step.for !== null) push(step.at + step.for, "end");
  return events;
}

interface Entry {
  step: number;
  target: Target;
  dead: boolean;
}

/**
 * Plans the timeline. `allProxies` is what "*" stands for (every proxy of every agent, known to
 * the runner once it has listed them); step proxies are used as given otherwise.
 */
export function planTimeline(scenario: Scenario, allProxies: readonly string[] = []): Timeline {
  const steps = scenario.steps;
  const events = steps.flatMap(stepEvents);
  // time, then ends before starts/updates, then step order, then the step's own order
  events.sort((x, y) => x.at - y.at || Number(y.kind === "end") - Number(x.kind === "end") || x.step - y.step || x.seq - y.seq);

  const stacks = new Map<string, Entry[]>();
  const entryOf = new Map<string, Entry>(); // `${step}\0${proxy}` -> entry
  const actions: TimelineAction[] = [];

  for (let i = 0; i < events.length; ) {
    const at = events[i]!.at;
    // one emission per proxy per instant: the last word wins
    const emit = new Map<string, { step: number; role: ActionRole; target: Target }>();
    for (; i < events.length && events[i]!.at === at; i++) {
      const ev = events[i]!;
      const step = steps[ev.step]!;
      for (const proxy of stepProxies(step, allProxies)) {
        let stack = stacks.get(proxy);
        if (!stack) stacks.set(proxy, (stack = []));
        const key = `${ev.step}\0${proxy}`;
        if (ev.kind === "start") {
          const entry: Entry = { step: ev.step, target: ev.target!, dead: false };
          entryOf.set(key, entry);
          stack.push(entry);
          emit.set(proxy, { step: ev.step, role: "start", target: entry.target });
        } else if (ev.kind === "update") {
          const entry = entryOf.get(key);
          if (!entry || entry.dead) continue;
          entry.target = ev.target!;
          if (stack.at(-1) === entry) emit.set(proxy, { step: ev.step, role: "update", target: entry.target });
        } else {
          const entry = entryOf.get(key);
          if (!entry || entry.dead) continue;
          entry.dead = true;
          if (stack.at(-1) !== entry) continue; // a later step already took the proxy over
          while (stack.length > 0 && stack.at(-1)!.dead) stack.pop();
          const back = stack.at(-1);
          emit.set(proxy, { step: ev.step, role: "restore", target: back ? back.target : { kind: "baseline" } });
        }
      }
    }
    // group proxies that get the same thing from the same step
    const groups: TimelineAction[] = [];
    for (const [proxy, e] of emit) {
      const same = groups.find((g) => g.step === e.step && g.role === e.role && g.target === e.target);
      if (same) same.proxies.push(proxy);
      else groups.push({ at, step: e.step, role: e.role, proxies: [proxy], target: e.target });
    }
    groups.sort((x, y) => x.step - y.step);
    actions.push(...groups);
  }

  const spans: StepSpan[] = steps.map((s) => {
    if (s.for !== null) return { start: s.at, end: s.at + s.for };
    const next = steps.find((o) => o.at > s.at);
    const natural = s.at + naturalLength(s);
    return { start: s.at, end: next ? Math.max(next.at, natural) : natural > s.at ? natural : null };
  });
  const endsAt = steps.reduce((m, s) => Math.max(m, s.at + (s.for ?? naturalLength(s))), 0);
  const boundaries = [...new Set(spans.flatMap((s) => (s.end === null ? [s.start] : [s.start, s.end])))].sort((a, b) => a - b);
  return { actions, endsAt, spans, boundaries };
}

/** One line describing an action, for logs: "step 2: apply slow-3g (pg, payments)". */
export function describeTimelineAction(a: TimelineAction, steps: readonly ScenarioStep[]): string {
  const step = steps[a.step];
  let what: string;
  if (a.role === "restore") {
    what = a.target.kind === "baseline" ? "for ended: back to what was there before the run" : "for ended: back to what the previous steps left";
  } else if (a.target.kind === "ramp") {
    what = `ramp ${a.target.from} -> ${a.target.to} ${Math.round(a.target.fraction * 100)}%`;
  } else if (a.role === "update" && step?.action.kind === "trace") {
    what = `trace ${step.action.file} sample`;
  } else {
    what = step ? describeAction(step.action) : "";
  }
  return `${stepLabel(a.step, steps)}: ${what} (${a.proxies.join(", ")})`;
}

/** "step 2", or with the user's own name `step 2 "warm cache"` (1-based, in time order). */
export function stepLabel(index: number, steps: readonly ScenarioStep[]): string {
  const step = steps[index];
  const named = step !== undefined && step.name !== describeAction(step.action);
  return named ? `step ${index + 1} ${JSON.stringify(step.name)}` : `step ${index + 1}`;
}
