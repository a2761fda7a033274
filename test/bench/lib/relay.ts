// The paths a benchmark compares: direct loopback, a bare Node relay (net + pipe), netimpair as
// users run it (`netimpair agent`, the CLI, its own process) with no impairment and with one that
// changes nothing measurable (10 Gbps), and beside them the engine alone (the Proxy class in a
// worker process), so a cost of the agent above the engine shows. Every relay runs in its own
// process; CPU and RSS come from /proc for all of them alike.
import type { ImpairmentSpec } from "../../../src/profiles/types.js";
import { cleanSpec } from "../../../src/profiles/types.js";
import { Worker } from "./ipc.js";
import { procUsage } from "./proc.js";
import { startAgentRelay } from "./agent-relay.js";

/** bare = net + pipe; engine = the Proxy class alone (relay-worker); agent = `netimpair agent` */
export type RelayKind = "bare" | "engine" | "agent";

export interface RelayStart {
  kind: RelayKind;
  /** HOST:PORT */
  upstream: string;
  spec: ImpairmentSpec | null;
}

/** A relay's resource figures (cpu in microseconds from /proc, memory in bytes). */
export interface Usage {
  cpuUs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  wallMs: number;
  rss: number;
  heapUsed: number;
  external: number;
  connections: number;
  bytesUp: number;
  bytesDown: number;
  /** major (mark-compact) GCs since the relay started */
  majorGcs: number;
  /** error codes seen on accept, dial or sockets, with counts */
  errors: Record<string, number>;
}

export type PathName = "direct" | "bare relay" | "engine clean" | "engine 10Gbps" | "agent clean" | "agent 10Gbps";
export const PATHS: readonly PathName[] = ["direct", "bare relay", "engine clean", "engine 10Gbps", "agent clean", "agent 10Gbps"];

/** What each path is, for the notes under a table. */
export const PATH_LEGEND =
  "bare relay = net + pipe; engine = netimpair's Proxy class alone in a worker process; agent = `netimpair agent --proxy` (dist/src/cli/main.js) as users start it";

/** A relay running in its own process: the port clients dial. */
export interface RunningRelay {
  port: number;
  worker: Worker | null;
  /** the relay's process (-1 for the direct path) */
  pid: number;
  usage(): Promise<Usage | null>;
  gc(): Promise<Usage | null>;
  apply(spec: ImpairmentSpec | null): Promise<void>;
  stop(): Promise<void>;
}

const WORKER = new URL("./relay-worker.js", import.meta.url);

/** The worker's own figures with CPU and RSS taken from /proc, as for the agent. */
function withProc(pid: number, u: Usage): Usage {
  return { ...u, ...procUsage(pid) };
}

/** Starts a relay of `kind` in its own process, relaying to 127.0.0.1:upstreamPort. */
export async function startRelay(kind: RelayKind, upstreamPort: number, spec: ImpairmentSpec | null = null): Promise<RunningRelay> {
  if (kind === "agent") return startAgentRelay(upstreamPort, spec);
  const worker = await Worker.start(`${kind} relay`, WORKER);
  try {
    const { port } = await worker.call<{ port: number }>("start", { kind, upstream: `127.0.0.1:${upstreamPort}`, spec } satisfies RelayStart);
    return {
      port,
      worker,
      pid: worker.pid,
      usage: async () => withProc(worker.pid, await worker.call<Usage>("usage")),
      gc: async () => withProc(worker.pid, await worker.call<Usage>("gc")),
      apply: async (s) => {
        await worker.call("apply", { spec: s });
      },
      stop: () => worker.stop(),
    };
  } catch (err) {
    await worker.stop();
    throw err;
  }
}

/**
 * A spec whose only change is a 10 Gbps bandwidth each way: the link is in the path, nothing
 * measurable changes. Each connection keeps a link of its own (share connection), as when the
 * published figures were first measured; the sharing benchmark measures shared links.
 */
export function tenGbpsSpec(): ImpairmentSpec {
  const s = cleanSpec();
  s.share = "connection";
  s.up.bandwidth = 10e9;
  s.down.bandwidth = 10e9;
  return s;
}

/** Starts one of the compared paths towards upstreamPort ("direct" starts nothing). */
export async function startPath(path: PathName, upstreamPort: number): Promise<RunningRelay> {
  switch (path) {
    case "direct":
      return {
        port: upstreamPort,
        worker: null,
        pid: -1,
        usage: async () => null,
        gc: async () => null,
        apply: async () => {
          throw new Error("direct path has no relay");
        },
        stop: async () => {},
      };
    case "bare relay":
      return startRelay("bare", upstreamPort);
    case "engine clean":
      return startRelay("engine", upstreamPort, null);
    case "engine 10Gbps":
      return startRelay("engine", upstreamPort, tenGbpsSpec());
    case "agent clean":
      return startRelay("agent", upstreamPort, null);
    case "agent 10Gbps":
      return startRelay("agent", upstreamPort, tenGbpsSpec());
  }
}
