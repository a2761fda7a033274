// Which steps made things better when they ended: their `for` ran out (the proxies went back to
// what the earlier steps left, or to what they had before the run) or a clear (or a return to
// what was there before the run) took over from them.
// The probes' recovery is measured after those steps.
import type { Timeline } from "./plan.js";
import { stepProxies } from "./plan.js";
import type { ScenarioStep } from "./types.js";

export function stepsEndingBetter(steps: readonly ScenarioStep[], timeline: Timeline, allProxies: readonly string[]): boolean[] {
  return steps.map((step, i) => {
    const end = timeline.spans[i]?.end ?? null;
    if (end === null || step.action.kind === "clear") return false;
    // its for ran out: the proxies go back to what the earlier steps left (or a step starting then takes over)
    if (step.for !== null) return true;
    const mine = new Set(stepProxies(step, allProxies));
    return timeline.actions.some(
      (a) => a.at === end && a.proxies.some((p) => mine.has(p)) && ((a.role === "restore" && a.step === i) || (a.role === "start" && (a.target.kind === "clean" || a.target.kind === "baseline"))),
    );
  });
}
