// The decision per request: rules compiled for one protocol, with the counters `after` and
// `times` need. One RuleEngine per apply on a proxy (a new apply starts the counts again); every
// connection of the proxy asks the current one, so `times` counts across the proxy.
import type { FieldError } from "../field-error.js";
import type { Random } from "../clock.js";
import { actionOf, describeRule, type RequestRule } from "./rule.js";
import { timerHold } from "./holds.js";
import { compileMatch, type Matcher } from "./match.js";
import { RuleError, type Decision, type ProtocolModule, type RequestInfo } from "./protocol.js";

interface CompiledRule<F> {
  rule: RequestRule;
  name: string;
  matches: Matcher;
  decision: Decision<F>;
  /** matching requests seen */
  seen: number;
  /** injections made */
  fired: number;
}

export class RuleCompileError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join("; "));
  }
}

const FORWARD = { action: "forward" } as const;

export class RuleEngine<F> {
  private readonly rules: CompiledRule<F>[];

  /** Compiles rules for a protocol; throws RuleCompileError naming each bad field under `path`. */
  constructor(
    readonly module: ProtocolModule<F>,
    rules: readonly RequestRule[],
    private readonly random: Random,
    path = "requests",
  ) {
    const errors: FieldError[] = [];
    this.rules = [];
    rules.forEach((rule, i) => {
      const at = `${path}[${i}]`;
      const action = actionOf(rule);
      try {
        if (!module.actions.includes(action)) throw new RuleError(action, `the ${module.name} protocol cannot ${action} a request`);
        const matches = compileMatch(module.name, module.matchFields, rule.match);
        const name = describeRule(rule, i);
        let decision: Decision<F>;
        if ("fail" in rule) decision = { action: "fail", fail: module.compileFail(rule.fail), rule: name };
        else if ("delay" in rule) decision = { action: "delay", ms: rule.delay, rule: name, hold: timerHold(rule.delay) };
        else if ("lose" in rule) decision = { action: "lose", rule: name };
        else {
          if (rule.reset === "stream" && module.streamReset !== true) throw new RuleError("reset", `the ${module.name} protocol has no streams to reset (use reset: true)`);
          decision = { action: "reset", scope: rule.reset === "stream" ? "stream" : "connection", rule: name };
        }
        this.rules.push({ rule, name, matches, decision, seen: 0, fired: 0 });
      } catch (err) {
        if (err instanceof RuleError) errors.push({ path: `${at}.${err.path}`, message: err.message });
        else throw err;
      }
    });
    if (errors.length > 0) throw new RuleCompileError(errors);
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** True when a rule of this name (describeRule) is among these rules. */
  hasRule(name: string): boolean {
    return this.rules.some((r) => r.name === name);
  }

  /** The first rule whose match fits decides; a rule that does not fire (after, times, probability) forwards. */
  decide(info: RequestInfo): Decision<F> {
    for (const r of this.rules) {
      if (!r.matches(info)) continue;
      r.seen++;
      if (r.seen <= r.rule.after) return FORWARD;
      if (r.rule.times !== null && r.fired >= r.rule.times) return FORWARD;
      if (r.rule.probability < 1 && this.random() >= r.rule.probability) return FORWARD;
      r.fired++;
      return r.decision;
    }
    return FORWARD;
  }
}
