// The decision per request: rules compiled for one protocol, with the counters `after` and
// `times` need. One RuleEngine per apply on a proxy (a new apply starts the counts again); every
// connection of the proxy asks the current one, so `times` counts across the proxy.
import type { FieldError } from "../field-error.js";
import { monotonicNow, type Now, type Random } from "../clock.js";
import { actionOf, describeRule, type RequestRule } from "./rule.js";
import { timerHold } from "./holds.js";
import { compileMatch, type Matcher } from "./match.js";
import { RuleError, type Decision, type ProtocolModule, type RequestInfo } from "./protocol.js";
import { answerFaultOf, truncateUnit } from "./answer-rule.js";
import { TokenBuckets } from "./rate-limit.js";

interface CompiledRule<F> {
  rule: RequestRule;
  name: string;
  matches: Matcher;
  decision: Decision<F>;
  /** matching requests seen */
  seen: number;
  /** injections made */
  fired: number;
  /** a rateLimit's buckets, and how a request's key is read */
  limit: { buckets: TokenBuckets; key: (info: RequestInfo, client: string) => string } | null;
}

/** How a rateLimit's `per` reads a request's bucket key; a request without the header shares the "" bucket. */
function limitKey(module: ProtocolModule<unknown>, per: string): (info: RequestInfo, client: string) => string {
  if (per === "proxy") return () => "";
  if (per === "client") return (_info, client) => client;
  const colon = per.indexOf(":");
  const kind = per.slice(0, colon);
  const name = per.slice(colon + 1);
  if (!(module.limitKeys ?? []).includes(kind)) {
    const kinds = (module.limitKeys ?? []).map((k) => `"${k}:NAME"`);
    throw new RuleError("rateLimit.per", `the ${module.name} protocol has no ${kind} to key on (per: client, proxy${kinds.length > 0 ? ", " + kinds.join(", ") : ""})`);
  }
  return (info) => info.maps?.[kind]?.[name] ?? "";
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
    now: Now = monotonicNow,
  ) {
    const errors: FieldError[] = [];
    this.rules = [];
    rules.forEach((rule, i) => {
      const at = `${path}[${i}]`;
      const action = actionOf(rule);
      try {
        if (!module.actions.includes(action)) {
          const answer = action === "truncate" || action === "malform" || action === "throttle" || action === "rateLimit";
          throw new RuleError(action, answer ? `${action} is for http and grpc proxies: the ${module.name} protocol cannot ${action === "rateLimit" ? "rate-limit requests" : `${action} an answer`}` : `the ${module.name} protocol cannot ${action} a request`);
        }
        const matches = compileMatch(module.name, module.matchFields, rule.match);
        const name = describeRule(rule, i);
        let decision: Decision<F>;
        let limit: CompiledRule<F>["limit"] = null;
        if ("truncate" in rule) {
          const unit = truncateUnit(rule.truncate);
          const units = module.truncateBy ?? [];
          if (!units.includes(unit)) throw new RuleError("truncate", `the ${module.name} protocol cannot truncate by ${unit} (it truncates by ${units.join(", ")})`);
        }
        if ("answer" in rule || ("truncate" in rule && "tc" in rule.truncate)) {
          // dns: answers made in the server's place compile into the protocol's fail shape
          const kind = "answer" in rule ? "answer" : "truncate";
          if (module.compileAnswer === undefined) {
            throw new RuleError(kind, kind === "truncate" ? `truncate: true (TC set) is for dns proxies; the ${module.name} protocol truncates by ${(module.truncateBy ?? []).join(", ") || "nothing"}` : `answer is for dns proxies: the ${module.name} protocol cannot answer a request in the server's place`);
          }
          decision = { action: "fail", fail: module.compileAnswer(kind, "answer" in rule ? rule.answer : true), rule: name };
        } else if ("rateLimit" in rule) {
          const r = rule.rateLimit;
          limit = { buckets: new TokenBuckets(r.rate, r.burst, now), key: limitKey(module as ProtocolModule<unknown>, r.per) };
          decision = { action: "limit", retryAfterMs: 0, rule: name };
        } else if ("truncate" in rule || "malform" in rule || "throttle" in rule) decision = { action: "answer", fault: answerFaultOf(rule), rule: name };
        else if ("fail" in rule) decision = { action: "fail", fail: module.compileFail(rule.fail), rule: name };
        else if ("delay" in rule) decision = { action: "delay", ms: rule.delay, rule: name, hold: timerHold(rule.delay) };
        else if ("lose" in rule) decision = { action: "lose", rule: name };
        else if ("reset" in rule) {
          if (rule.reset === "stream" && module.streamReset !== true) throw new RuleError("reset", `the ${module.name} protocol has no streams to reset (use reset: true)`);
          decision = { action: "reset", scope: rule.reset === "stream" ? "stream" : "connection", rule: name };
        }
        else throw new RuleError(action, `unknown action ${action}`);
        this.rules.push({ rule, name, matches, decision, seen: 0, fired: 0, limit });
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
  decide(info: RequestInfo, client = ""): Decision<F> {
    for (const r of this.rules) {
      if (!r.matches(info)) continue;
      r.seen++;
      if (r.seen <= r.rule.after) return FORWARD;
      let retryAfterMs = 0;
      if (r.limit !== null) {
        // within the budget the request passes; over it, times and probability say whether it is answered
        retryAfterMs = r.limit.buckets.take(r.limit.key(info, client));
        if (retryAfterMs === 0) return FORWARD;
      }
      if (r.rule.times !== null && r.fired >= r.rule.times) return FORWARD;
      if (r.rule.probability < 1 && this.random() >= r.rule.probability) return FORWARD;
      r.fired++;
      return r.limit !== null ? { action: "limit", retryAfterMs, rule: r.name } : r.decision;
    }
    return FORWARD;
  }
}
