// The paths a benchmark compares: direct loopback, a bare Node relay (net + pipe), netimpair with
// no impairment, netimpair with an impairment that changes nothing measurable (10 Gbps), and any
// netimpair spec. Each relay runs in its own worker process.
import type { ImpairmentSpec } from "../../../src/profiles/types.js";
import { cleanSpec } from "../../../src/profiles/types.js";
import { Worker } from "./ipc.js";

export type RelayKind = "bare" | "netimpair";

export interface RelayStart {
  kind: RelayKind;
  /** HOST:PORT */
  upstream: string;
  spec: ImpairmentSpec | null;
}

/** A worker's resource figures (cpu in microseconds, memory in bytes). */
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
  /** error codes seen on accept, dial or sockets, with counts */
  errors: Record<string, number>;
}

export type PathName = "direct" | "bare relay" | "netimpair clean" | "netimpair 10Gbps";
export const PATHS: readonly PathName[] = ["direct", "bare relay", "netimpair clean", "netimpair 10Gbps"];

/** A relay running in a worker: the port clients dial. */
export interface RunningRelay {
  port: number;
  worker: Worker | null;
  usage(): Promise<Usage | null>;
  gc(): Promise<Usage | null>;
  apply(spec: ImpairmentSpec | null): Promise<void>;
  stop(): Promise<void>;
}

const WORKER = new URL("./relay-worker.js", import.meta.url);

/** Starts a relay of `kind` in a new worker, relaying to 127.0.0.1:upstreamPort. */
export async function startRelay(kind: RelayKind, upstreamPort: number, spec: ImpairmentSpec | null = null): Promise<RunningRelay> {
  const worker = await Worker.start(`${kind} relay`, WORKER);
  try {
    const { port } = await worker.call<{ port: number }>("start", { kind, upstream: `127.0.0.1:${upstreamPort}`, spec } satisfies RelayStart);
    return {
      port,
      worker,
      usage: () => worker.call<Usage>("usage"),
      gc: () => worker.call<Usage>("gc"),
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
        usage: async () => null,
        gc: async () => null,
        apply: async () => {
          throw new Error("direct path has no relay");
        },
        stop: async () => {},
      };
    case "bare relay":
      return startRelay("bare", upstreamPort);
    case "netimpair clean":
      return startRelay("netimpair", upstreamPort, null);
    case "netimpair 10Gbps":
      return startRelay("netimpair", upstreamPort, tenGbpsSpec());
  }
}
