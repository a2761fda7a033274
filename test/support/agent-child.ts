// A whole agent in its own process, for measuring the agent alone (not a test file). Run as
//   node [--expose-gc] dist/test/support/agent-child.js '<ChildAgentOptions JSON>'
// It prints one JSON line ({url, httpUrl, proxies}) on stdout once serving, and mounts
// GET /probe on the agent's own port: RSS, heap, open fds, live timers (every Timeout created
// and not yet cleared or fired, ref'd or not, tracked by an async hook) and active handles.
// `/probe?gc=1` collects garbage first (when started with --expose-gc). SIGTERM stops it.
import { createHook } from "node:async_hooks";
import { readdirSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pino } from "pino";
import { startAgent, type StartAgentOptions } from "../../src/agent/start.js";
import type { ChildAgentOptions, ChildProbe, ChildReady } from "./agent-process.js";

// with AGENT_CHILD_TIMER_STACKS=1, each live timer's creation stack is kept and probed too
const keepStacks = process.env.AGENT_CHILD_TIMER_STACKS === "1";
const liveTimers = new Map<number, string>();
createHook({
  init(asyncId, type) {
    if (type === "Timeout") liveTimers.set(asyncId, keepStacks ? (new Error().stack ?? "").split("\n").slice(2, 9).join("\n") : "");
  },
  destroy(asyncId) {
    liveTimers.delete(asyncId);
  },
}).enable();

// the agent's own event loop delay (what a control request waits before it is even read)
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

function countFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}

function probe(gc: boolean, reset: boolean): ChildProbe {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) {
    collect();
    collect();
  }
  const mem = process.memoryUsage();
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  const eventLoopDelayMs = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  if (reset) loopDelay.reset();
  const cpu = process.cpuUsage();
  return { pid: process.pid, cpuMs: (cpu.user + cpu.system) / 1000, eventLoopDelayMs, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external, fds: countFds(), timers: liveTimers.size, resources, ...(keepStacks ? { timerStacks: [...liveTimers.values()] } : {}) };
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? "{}") as ChildAgentOptions;
  const start: StartAgentOptions = {
    control: opts.control ?? "127.0.0.1:0",
    proxies: opts.proxies ?? [],
    logLevel: opts.logLevel ?? "silent",
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.maxControlConnections !== undefined ? { maxControlConnections: opts.maxControlConnections } : {}),
    ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}),
    ...(opts.logFile ? { logDestination: pino.destination({ dest: opts.logFile, sync: true }) } : {}),
  };
  const running = await startAgent(start);
  running.addRoute("/probe", (req, res, url) => {
    const body = JSON.stringify(probe(url.searchParams.get("gc") === "1", url.searchParams.get("resetDelay") === "1"));
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  });
  const ready: ChildReady = {
    url: running.url,
    httpUrl: running.httpUrl,
    proxies: Object.fromEntries(running.agent.listProxies().map((p) => [p.name, p.listen])),
  };
  process.stdout.write(JSON.stringify(ready) + "\n");
  const stop = (): void => {
    void running.close().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`agent-child: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
