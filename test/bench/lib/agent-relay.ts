// The relay as users run it: `netimpair agent --proxy bench=...` (dist/src/cli/main.js) in its
// own process, driven over its control channel, measured from /proc and its /metrics.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { connect, type ControlClient } from "../../../src/control/client.js";
import type { ImpairmentSpec } from "../../../src/profiles/types.js";
import { procUsage } from "./proc.js";
import { workerFlags } from "./ipc.js";
import type { RunningRelay, Usage } from "./relay.js";

/** dist/src/cli/main.js, from this compiled file (dist/test/bench/lib/agent-relay.js). */
export const CLI_PATH = fileURLToPath(new URL("../../../src/cli/main.js", import.meta.url));

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: status ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A sample of a Prometheus text by name and exact label text (0 when absent). */
export function metric(text: string, name: string, labels = ""): number {
  const head = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split("\n").find((l) => l.startsWith(head));
  return line === undefined ? 0 : Number(line.slice(head.length));
}

export interface AgentRelay extends RunningRelay {
  child: ChildProcess;
  httpUrl: string;
  /** the agent's /metrics text now */
  metrics(): Promise<string>;
}

/** Starts `netimpair agent` with one proxy "bench" to 127.0.0.1:upstreamPort, then applies `spec`. */
export async function startAgentRelay(upstreamPort: number, spec: ImpairmentSpec | null): Promise<AgentRelay> {
  // workerFlags: --cpu-prof with `npm run bench -- --profile`, as for the worker relays
  const child = spawn(process.execPath, [...workerFlags, CLI_PATH, "agent", "--control", "127.0.0.1:0", "--proxy", `bench=127.0.0.1:0,127.0.0.1:${upstreamPort}`], {
    stdio: ["ignore", "ignore", "pipe"], // its JSON logs (level info, as by default) go nowhere
  });
  child.on("error", () => {});
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  const ready = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`netimpair agent: no control URL within 15 s: ${stderr}`)), 15_000);
    child.stderr!.on("data", (d: string) => {
      stderr += d;
      const m = /control (ws:\/\/\S+) proxies: bench 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, port: Number(m[2]) });
      }
    });
    child.once("exit", (code) => reject(new Error(`netimpair agent exited (${code}): ${stderr}`)));
  });
  const httpUrl = ready.url.replace(/^ws/, "http").replace(/\/control$/, "");
  let ctl: ControlClient | null = null;
  const apply = async (s: ImpairmentSpec | null): Promise<void> => {
    ctl ??= await connect(ready.url);
    if (s === null) await ctl.call("impair.clear", { proxy: "bench" });
    else await ctl.call("impair.apply", { proxy: "bench", spec: s as unknown as Record<string, unknown> });
  };
  const metrics = (): Promise<string> => get(`${httpUrl}/metrics`);
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
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 6000);
    await exited;
    clearTimeout(killer);
  };
  try {
    if (spec !== null) await apply(spec);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port: ready.port,
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
