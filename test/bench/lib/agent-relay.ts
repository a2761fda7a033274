// The relay as users run it: `netimpair agent --proxy bench=...` (dist/src/cli/main.js) in its
// own process, driven over its control channel, measured from /proc and its /metrics.
import type { ChildProcess } from "node:child_process";
import { connect, type ControlClient } from "../../../src/control/client.js";
import type { ImpairmentSpec } from "../../../src/profiles/types.js";
import { httpGet } from "../../support/agent-process.js";
import { spawnCliAgent } from "../../support/cli-agent.js";
import { metric } from "../../support/prometheus.js";
import { procUsage } from "./proc.js";
import { workerFlags } from "./ipc.js";
import type { RunningRelay, Usage } from "./relay.js";

export interface AgentRelay extends RunningRelay {
  child: ChildProcess;
  httpUrl: string;
  /** the agent's /metrics text now */
  metrics(): Promise<string>;
}

/** Starts `netimpair agent` with one proxy "bench" to 127.0.0.1:upstreamPort, then applies `spec`. */
export async function startAgentRelay(upstreamPort: number, spec: ImpairmentSpec | null): Promise<AgentRelay> {
  // workerFlags: --cpu-prof with `npm run bench -- --profile`, as for the worker relays; its JSON
  // logs (level info, as by default) go nowhere
  const agent = await spawnCliAgent({ nodeFlags: workerFlags, args: ["--proxy", `bench=127.0.0.1:0,127.0.0.1:${upstreamPort}`], logLevel: null, captureLogs: false });
  const { child, url, httpUrl } = agent;
  let ctl: ControlClient | null = null;
  const apply = async (s: ImpairmentSpec | null): Promise<void> => {
    ctl ??= await connect(url);
    if (s === null) await ctl.call("impair.clear", { proxy: "bench" });
    else await ctl.call("impair.apply", { proxy: "bench", spec: s as unknown as Record<string, unknown> });
  };
  const metrics = (): Promise<string> => httpGet(`${httpUrl}/metrics`);
  const usage = async (): Promise<Usage> => {
    const p = procUsage(child.pid!);
    // at its open-file limit (the scale benchmark) the agent cannot accept the scrape: the
    // /proc figures stand alone then, the others are NaN
    const m = await metrics().catch(() => null);
    if (m === null) {
      return { ...p, wallMs: performance.now(), heapUsed: NaN, external: NaN, connections: NaN, bytesUp: NaN, bytesDown: NaN, majorGcs: NaN, errors: { "metrics scrape failed": 1 } };
    }
    return {
      ...p,
      wallMs: performance.now(),
      heapUsed: metric(m, "nodejs_heap_size_used_bytes"),
      external: metric(m, "nodejs_external_memory_bytes"),
      connections: metric(m, "netimpair_connections_active", 'proxy="bench"'),
      bytesUp: metric(m, "netimpair_bytes_total", 'proxy="bench",direction="up"'),
      bytesDown: metric(m, "netimpair_bytes_total", 'proxy="bench",direction="down"'),
      majorGcs: metric(m, "nodejs_gc_duration_seconds_count", 'kind="major"'),
      errors: {},
    };
  };
  const stop = async (): Promise<void> => {
    await ctl?.close().catch(() => undefined);
    await agent.stop();
  };
  try {
    if (spec !== null) await apply(spec);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port: agent.port("bench"),
    worker: null,
    pid: child.pid!,
    child,
    httpUrl,
    metrics,
    usage,
    // the CLI agent has no --expose-gc (it runs as users run it): its memory figures are as found
    gc: usage,
    apply,
    stop,
  };
}
