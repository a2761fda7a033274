// One control session per agent for a run: every apply is bound to it, so closing it (or the
// runner dying) returns the agent's proxies to what they had before the run.
import { connect, type ControlClient } from "../control/client.js";
import type { ApplyResult, ImpairmentState, ProxyInfo } from "../control/protocol.js";
import { PROFILE_NAME_PATTERN } from "../profiles/schema.js";
import { isCleanSpec, type ImpairmentSpec } from "../profiles/types.js";
import { interpolateSpec } from "./interpolate.js";
import type { Target } from "./plan.js";
import { Pacer } from "./pace.js";

/** An agent to run on (the CLI's fleet targets fit). */
export interface AgentRef {
  name: string;
  url: string;
  token?: string;
  /** CA certificate(s) trusted for wss:// (the CLI's --ca) */
  ca?: Buffer;
}

export class AgentSession {
  /** proxy names of the agent at the start */
  readonly proxies: Set<string>;
  /** each proxy's impairment before the run */
  readonly before: Map<string, ImpairmentState | null>;
  /** resolved ramp ends by profile name */
  readonly rampSpecs = new Map<string, ImpairmentSpec>();
  /** what the run last set on each proxy (acknowledged), to notice a clear or panic from outside */
  readonly applied = new Map<string, "clean" | "impaired">();
  /** applies sent and not yet answered */
  inFlight = 0;
  /** keeps the run's applies under the agent's rate limit */
  private readonly pacer = new Pacer();

  constructor(
    readonly ref: AgentRef,
    readonly client: ControlClient,
    list: ProxyInfo[],
  ) {
    this.proxies = new Set(list.map((p) => p.name));
    this.before = new Map(list.map((p) => [p.name, p.impairment]));
  }

  static async open(ref: AgentRef, timeoutMs: number): Promise<AgentSession> {
    const client = await connect(ref.url, { timeoutMs, bindToSession: true, ...(ref.token !== undefined ? { token: ref.token } : {}), ...(ref.ca !== undefined ? { ca: ref.ca } : {}) });
    try {
      return new AgentSession(ref, client, await client.proxies());
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  /** Sets one proxy to `target`, bound to this session. */
  async set(proxy: string, target: Target): Promise<ApplyResult> {
    this.inFlight++;
    try {
      await this.pacer.acquire();
      const result = await this.send(proxy, target);
      const one = Array.isArray(result) ? result[0]! : result;
      this.applied.set(proxy, isCleanSpec(one.spec) ? "clean" : "impaired");
      return one;
    } finally {
      this.inFlight--;
    }
  }

  private send(proxy: string, target: Target): ReturnType<ControlClient["apply"]> {
    const c = this.client;
    switch (target.kind) {
      case "clean":
        return c.apply(proxy, "clean", { bindToSession: true });
      case "apply":
        return c.apply(proxy, target.profile, {
          bindToSession: true,
          ...(target.spec !== undefined ? { spec: target.spec } : {}),
          ...(target.set !== undefined ? { set: target.set } : {}),
          ...(target.percent !== undefined ? { percent: target.percent } : {}),
          ...(target.clients !== undefined ? { clients: target.clients } : {}),
        });
      case "ramp": {
        const from = this.rampSpecs.get(target.from);
        const to = this.rampSpecs.get(target.to);
        if (!from || !to) throw new Error(`ramp profile ${JSON.stringify(from ? target.to : target.from)} was not resolved on ${this.ref.name}`);
        const spec = interpolateSpec(from, to, target.fraction);
        return c.apply(proxy, undefined, { bindToSession: true, spec: { name: rampName(target.from, target.to), ...spec } });
      }
      case "baseline": {
        const state = this.before.get(proxy) ?? null;
        if (state === null) return c.apply(proxy, "clean", { bindToSession: true });
        const named = PROFILE_NAME_PATTERN.test(state.profile) ? { name: state.profile } : {};
        return c.apply(proxy, undefined, {
          bindToSession: true,
          spec: { ...named, ...state.spec },
          percent: state.percent,
          ...(state.clients.length > 0 ? { clients: state.clients } : {}),
        });
      }
    }
  }

  /** Resolves a ramp end on the agent (profile.get). */
  async resolveRampProfile(name: string): Promise<void> {
    if (this.rampSpecs.has(name)) return;
    this.rampSpecs.set(name, (await this.client.profile(name)).spec);
  }

  /** Closes the session: the agent reverts everything bound to it. */
  close(): Promise<void> {
    return this.client.close();
  }
}

/** The name a ramp's re-applies carry (shown by `netimpair status`). */
export function rampName(from: string, to: string): string {
  const name = `ramp-${from}-to-${to}`.replace(/[^A-Za-z0-9._-]/g, "-");
  return name.length <= 64 ? name : name.slice(0, 64);
}
