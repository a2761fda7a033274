// Validation of a raw scenario (parsed YAML) into a Scenario, with one FieldError per bad field.
// Paths are dotted with list indices (`steps.2.ramp.over`) so the loader can find their lines.
import type { FieldError, SetOverrides } from "../control/protocol.js";
import { describe, FieldChecker, isRecord, join } from "../profiles/fields.js";
import { parseSetOverrides, PROFILE_NAME_PATTERN, validateProfile } from "../profiles/schema.js";
import { parseCidr } from "../relay/targeting.js";
import { EXPERIMENT_FIELDS, validateExperiment } from "../experiment/schema.js";
import { validateExpect } from "../experiment/expect-schema.js";
import { parseDuration, parsePercent, showValue, UnitError } from "../units.js";
import {
  MAX_RAMP_INTERVAL_MS,
  MAX_STEPS,
  type Scenario,
  type ScenarioStep,
  type StepAction,
} from "./types.js";

const TOP_FIELDS = ["name", "description", "agents", "proxies", "steps", "expect", ...EXPERIMENT_FIELDS] as const;
const STEP_FIELDS = ["name", "at", "for", "proxies", "apply", "clear", "ramp", "trace", "repeat", "set", "percent", "clients"] as const;
const ACTIONS = ["apply", "clear", "ramp", "trace", "repeat"] as const;
const RAMP_FIELDS = ["from", "to", "over", "every"] as const;
const TRACE_FIELDS = ["file"] as const;
const REPEAT_FIELDS = ["times", "every", "steps"] as const;
const MAX_REPEAT_DEPTH = 4;
const PROXY_NAME = /^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$/;

class Checker extends FieldChecker {
  duration(v: unknown, path: string, opts: { positive?: boolean } = {}): number | undefined {
    try {
      const ms = parseDuration(v);
      if (opts.positive && ms <= 0) {
        this.add(path, `expected a duration above 0, got ${showValue(v)}`);
        return undefined;
      }
      return ms;
    } catch (err) {
      this.add(path, err instanceof UnitError ? err.message : String(err));
      return undefined;
    }
  }

  text(v: unknown, path: string): string | undefined {
    if (typeof v === "string") return v;
    this.add(path, `expected text, got ${describe(v)}`);
    return undefined;
  }

  profileName(v: unknown, path: string): string | undefined {
    if (typeof v === "string" && PROFILE_NAME_PATTERN.test(v)) return v;
    this.add(path, `expected a profile name (letters, digits, . _ -), got ${describe(v)}`);
    return undefined;
  }

  proxyList(v: unknown, path: string): string[] | undefined {
    const list = typeof v === "string" ? [v] : v;
    if (!Array.isArray(list) || list.length === 0) {
      this.add(path, `expected a list of proxy names like [pg, payments] (or "*" for every proxy), got ${describe(v)}`);
      return undefined;
    }
    const out: string[] = [];
    list.forEach((p: unknown, i) => {
      if (typeof p === "string" && PROXY_NAME.test(p)) {
        if (!out.includes(p)) out.push(p);
      } else this.add(join(path, i), `expected a proxy name (letters, digits, . _ -) or "*", got ${describe(p)}`);
    });
    return out.length === list.length || out.length > 0 ? out : undefined;
  }
}

/** Describes an action in a few words: "apply 4g", "ramp 4g -> 2g over 30s", "clear". */
export function describeAction(a: StepAction): string {
  switch (a.kind) {
    case "apply": {
      const what = a.profile ?? (a.spec ? "inline spec" : "clean");
      const extras = [
        a.set ? `set ${Object.entries(a.set).map(([k, v]) => `${k}=${String(v)}`).join(",")}` : "",
        a.percent !== undefined ? `${a.percent}%` : "",
        a.clients ? `clients ${a.clients.join(",")}` : "",
      ].filter((s) => s !== "");
      return `apply ${what}${extras.length ? ` (${extras.join(", ")})` : ""}`;
    }
    case "clear":
      return "clear";
    case "ramp":
      return `ramp ${a.from} -> ${a.to} over ${formatMs(a.over)}`;
    case "trace":
      return `trace ${a.file}`;
  }
}

function formatMs(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

interface StepContext {
  /** offset of the enclosing repeat iteration */
  base: number;
  proxies: string[] | undefined;
  iteration: number[];
  depth: number;
}

/** A step as validated, before the timeline is sorted. */
type DraftStep = Omit<ScenarioStep, "index">;

function parseAction(c: Checker, raw: Record<string, unknown>, path: string): StepAction | undefined {
  const given = ACTIONS.filter((k) => raw[k] !== undefined);
  if (given.length !== 1) {
    c.add(path, given.length === 0 ? `a step needs one action: ${ACTIONS.join(", ")}` : `a step has one action; this one has ${given.join(" and ")}`);
    return undefined;
  }
  const kind = given[0]!;
  const onlyApply = (["set", "percent", "clients"] as const).filter((k) => raw[k] !== undefined);
  if (kind !== "apply" && onlyApply.length > 0) c.add(join(path, onlyApply[0]!), `${onlyApply[0]} goes with apply, not ${kind}`);
  const v = raw[kind];
  const at = join(path, kind);
  switch (kind) {
    case "apply": {
      const action: StepAction = { kind: "apply" };
      if (typeof v === "string") {
        const name = c.profileName(v, at);
        if (name === undefined) return undefined;
        action.profile = name;
      } else if (isRecord(v)) {
        const before = c.errors.length;
        const { errors } = validateProfile(v, { prefix: at });
        c.errors.push(...errors);
        if (c.errors.length > before) return undefined;
        action.spec = v;
      } else {
        c.add(at, `expected a profile name (apply: 3g) or an inline profile (apply: {down: {delay: 100ms}}), got ${describe(v)}`);
        return undefined;
      }
      if (raw.set !== undefined) {
        const { errors } = parseSetOverrides(raw.set, join(path, "set"));
        if (errors.length) c.errors.push(...errors);
        else action.set = raw.set as SetOverrides;
      }
      if (raw.percent !== undefined) {
        try {
          action.percent = parsePercent(raw.percent);
        } catch (err) {
          c.add(join(path, "percent"), (err as Error).message);
        }
      }
      if (raw.clients !== undefined) {
        if (!Array.isArray(raw.clients)) c.add(join(path, "clients"), `expected a list of CIDRs like [10.0.0.0/8], got ${describe(raw.clients)}`);
        else {
          const clients: string[] = [];
          raw.clients.forEach((cidr: unknown, i) => {
            const parsed = typeof cidr === "string" ? parseCidr(cidr) : `expected a CIDR like 10.0.0.0/8, got ${describe(cidr)}`;
            if (typeof parsed === "string") c.add(join(join(path, "clients"), i), parsed);
            else clients.push(cidr as string);
          });
          action.clients = clients;
        }
      }
      return action;
    }
    case "clear":
      if (v !== true) {
        c.add(at, `expected clear: true, got ${describe(v)}`);
        return undefined;
      }
      return { kind: "clear" };
    case "ramp": {
      if (!isRecord(v)) {
        c.add(at, `expected a ramp like {from: 4g, to: 2g, over: 30s}, got ${describe(v)}`);
        return undefined;
      }
      c.unknownKeys(v, RAMP_FIELDS, at);
      const from = v.from === undefined ? (c.add(join(at, "from"), "required: the profile the ramp starts from"), undefined) : c.profileName(v.from, join(at, "from"));
      const to = v.to === undefined ? (c.add(join(at, "to"), "required: the profile the ramp ends at"), undefined) : c.profileName(v.to, join(at, "to"));
      const over = v.over === undefined ? (c.add(join(at, "over"), "required: how long the ramp takes, e.g. 30s"), undefined) : c.duration(v.over, join(at, "over"), { positive: true });
      let every: number | undefined = MAX_RAMP_INTERVAL_MS;
      if (v.every !== undefined) {
        every = c.duration(v.every, join(at, "every"), { positive: true });
        if (every !== undefined && every > MAX_RAMP_INTERVAL_MS) {
          c.add(join(at, "every"), `a ramp is re-applied at least each second; expected at most 1s, got ${showValue(v.every)}`);
          every = undefined;
        } else if (every !== undefined && every < 50) {
          c.add(join(at, "every"), `expected at least 50ms between re-applies, got ${showValue(v.every)}`);
          every = undefined;
        }
      }
      if (from === undefined || to === undefined || over === undefined || every === undefined) return undefined;
      return { kind: "ramp", from, to, over, every: Math.min(every, over) };
    }
    case "trace": {
      const spec = typeof v === "string" ? { file: v } : v;
      if (!isRecord(spec)) {
        c.add(at, `expected a trace CSV file (trace: commute.csv or trace: {file: commute.csv}), got ${describe(v)}`);
        return undefined;
      }
      c.unknownKeys(spec, TRACE_FIELDS, at);
      if (typeof spec.file !== "string" || spec.file.trim() === "") {
        c.add(join(at, "file"), `expected the path of a CSV file, got ${describe(spec.file)}`);
        return undefined;
      }
      return { kind: "trace", file: spec.file, rows: [] };
    }
    case "repeat":
      return undefined; // handled by the caller
  }
}

function parseSteps(c: Checker, raw: unknown, path: string, ctx: StepContext, out: DraftStep[]): void {
  if (!Array.isArray(raw) || raw.length === 0) {
    c.add(path, `expected a list of steps like [{at: 0s, apply: 4g}], got ${describe(raw)}`);
    return;
  }
  raw.forEach((item: unknown, i) => {
    const p = join(path, i);
    if (out.length > MAX_STEPS) return;
    if (!isRecord(item)) {
      c.add(p, `expected a step like {at: 10s, apply: 3g}, got ${describe(item)}`);
      return;
    }
    c.unknownKeys(item, STEP_FIELDS, p);
    const at = item.at === undefined ? (c.add(join(p, "at"), "required: when the step starts, e.g. at: 30s"), undefined) : c.duration(item.at, join(p, "at"));
    const forMs = item.for === undefined || item.for === null ? null : c.duration(item.for, join(p, "for"), { positive: true });
    const proxies = item.proxies === undefined ? ctx.proxies : c.proxyList(item.proxies, join(p, "proxies"));
    const name = item.name === undefined ? undefined : c.text(item.name, join(p, "name"));
    if (item.repeat !== undefined) {
      if (ACTIONS.filter((k) => item[k] !== undefined).length > 1) {
        c.add(p, `a step has one action; this one has ${ACTIONS.filter((k) => item[k] !== undefined).join(" and ")}`);
        return;
      }
      if (item.for !== undefined) c.add(join(p, "for"), "a repeat block takes no for; give it to the steps inside");
      parseRepeat(c, item.repeat, join(p, "repeat"), { ...ctx, proxies }, at, out);
      return;
    }
    const action = parseAction(c, item, p);
    if (at === undefined || forMs === undefined || action === undefined) return;
    if (proxies === undefined) {
      if (item.proxies === undefined) c.add(join(p, "proxies"), "no proxies to act on: list them at the top of the scenario (proxies: [pg]) or on the step");
      return;
    }
    if (action.kind === "ramp" && forMs !== null && forMs < action.over) {
      c.add(join(p, "for"), `a ramp's for (${formatMs(forMs)}) must be at least its over (${formatMs(action.over)})`);
      return;
    }
    out.push({
      name: name ?? describeAction(action),
      at: ctx.base + at,
      for: forMs,
      proxies,
      action,
      path: p,
      iteration: ctx.iteration,
    });
  });
}

function parseRepeat(c: Checker, raw: unknown, path: string, ctx: StepContext, at: number | undefined, out: DraftStep[]): void {
  if (!isRecord(raw)) {
    c.add(path, `expected a repeat like {times: 3, every: 1m, steps: [...]}, got ${describe(raw)}`);
    return;
  }
  if (ctx.depth >= MAX_REPEAT_DEPTH) {
    c.add(path, `repeat blocks nest at most ${MAX_REPEAT_DEPTH} deep`);
    return;
  }
  c.unknownKeys(raw, REPEAT_FIELDS, path);
  let times: number | undefined;
  if (typeof raw.times === "number" && Number.isInteger(raw.times) && raw.times >= 1 && raw.times <= MAX_STEPS) times = raw.times;
  else c.add(join(path, "times"), `expected a whole number of times from 1 to ${MAX_STEPS}, got ${describe(raw.times)}`);
  const every = raw.every === undefined ? (c.add(join(path, "every"), "required: the time from one iteration's start to the next, e.g. 1m"), undefined) : c.duration(raw.every, join(path, "every"), { positive: true });
  if (times === undefined || every === undefined || at === undefined) {
    // still report the inner steps' problems once
    parseSteps(c, raw.steps, join(path, "steps"), { ...ctx, depth: ctx.depth + 1 }, []);
    return;
  }
  for (let k = 0; k < times; k++) {
    const before = c.errors.length;
    parseSteps(c, raw.steps, join(path, "steps"), { base: ctx.base + at + k * every, proxies: ctx.proxies, iteration: [...ctx.iteration, k], depth: ctx.depth + 1 }, out);
    if (c.errors.length > before) return; // one iteration's errors are every iteration's
    if (out.length > MAX_STEPS) return;
  }
}

/** Validates a parsed scenario. `defaultName` names it when it has no `name` (the file's name). */
export function validateScenario(raw: unknown, defaultName = "scenario"): { scenario: Scenario | null; errors: FieldError[] } {
  const c = new Checker();
  if (!isRecord(raw)) {
    c.add("(root)", `expected a scenario (a mapping with steps), got ${describe(raw)}`);
    return { scenario: null, errors: c.errors };
  }
  c.unknownKeys(raw, TOP_FIELDS, "");
  const name = raw.name === undefined ? defaultName : c.text(raw.name, "name");
  const description = raw.description === undefined ? "" : c.text(raw.description, "description");
  let agents: string[] = [];
  if (raw.agents !== undefined) {
    if (!Array.isArray(raw.agents)) c.add("agents", `expected a list of agent URLs like [ws://127.0.0.1:8474/control], got ${describe(raw.agents)}`);
    else
      agents = raw.agents.flatMap((a: unknown, i) => {
        if (typeof a === "string" && a.trim() !== "") return [a.trim()];
        c.add(join("agents", i), `expected an agent URL, got ${describe(a)}`);
        return [];
      });
  }
  const proxies = raw.proxies === undefined ? undefined : c.proxyList(raw.proxies, "proxies");
  const drafts: DraftStep[] = [];
  if (raw.steps === undefined) c.add("steps", "required: the list of steps, e.g. steps: [{at: 0s, apply: 4g}]");
  else parseSteps(c, raw.steps, "steps", { base: 0, proxies, iteration: [], depth: 0 }, drafts);
  if (drafts.length > MAX_STEPS) c.add("steps", `the scenario expands to more than ${MAX_STEPS} steps (check repeat.times)`);
  const { experiment, errors: experimentErrors } = validateExperiment(raw);
  c.errors.push(...experimentErrors);
  const { expect, errors: expectErrors } = validateExpect(raw.expect);
  c.errors.push(...expectErrors);
  if (c.errors.length > 0) return { scenario: null, errors: c.errors };
  // stable sort by start time: file order breaks ties
  const steps = drafts
    .map((d, order) => ({ d, order }))
    .sort((a, b) => a.d.at - b.d.at || a.order - b.order)
    .map(({ d }, index): ScenarioStep => ({ index, ...d }));
  return { scenario: { name: name ?? defaultName, description: description ?? "", agents, proxies: proxies ?? [], steps, experiment, expect }, errors: [] };
}
