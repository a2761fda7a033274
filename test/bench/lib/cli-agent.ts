// The agent as users run it: `netimpair agent` (the CLI, its own process) with one proxy
// "bench" (or the proxies given), driven over its control channel; its CPU and memory read from /proc.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import type { ControlClient } from "../../../src/control/client.js";
import { connectToCliAgent, spawnCliAgent, type CliAgent as AgentProcess } from "../../support/cli-agent.js";
import { workerFlags } from "./ipc.js";

export interface CliAgent {
  agent: AgentProcess;
  control: ControlClient;
  /** the proxy's listen port */
  port: number;
  /** CPU time (user + system, ms) and resident memory (bytes) of the agent process now */
  usage(): { cpuMs: number; rss: number };
  stop(): Promise<void>;
}

const CLOCK_TICK_MS = 10; // Linux USER_HZ = 100

/** Starts `netimpair agent --proxy bench=127.0.0.1:0,127.0.0.1:UPSTREAM` and connects to it. */
export async function startCliAgent(upstreamPort: number): Promise<CliAgent> {
  const agent = await spawnCliAgent({ args: ["--proxy", `bench=127.0.0.1:0,127.0.0.1:${upstreamPort}`], logLevel: "warn", captureLogs: false });
  const control = await connectToCliAgent(agent, { bindToSession: false });
  const pid = agent.child.pid!;
  return {
    agent,
    control,
    port: agent.port("bench"),
    usage: () => {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return { cpuMs: ticks * CLOCK_TICK_MS, rss: rssKb * 1024 };
    },
    stop: async () => {
      await control.close();
      await agent.stop();
    },
  };
}

export interface CliAgentProxies {
  child: ChildProcess;
  control: ControlClient;
  /** listen port of each proxy, by name */
  port(name: string): number;
  stop(): Promise<void>;
}

/**
 * Starts `node [FLAGS] netimpair agent --control 127.0.0.1:0 --proxy P...` (P: NAME=LISTEN,
 * UPSTREAM[,PROTOCOL]) with the bench's node flags (`--profile`: --cpu-prof, written when the
 * agent exits on SIGTERM) and connects to it.
 */
export async function startCliAgentProxies(proxies: string[]): Promise<CliAgentProxies> {
  const agent = await spawnCliAgent({ nodeFlags: workerFlags, args: proxies.flatMap((p) => ["--proxy", p]), logLevel: "warn", captureLogs: false });
  const control = await connectToCliAgent(agent, { bindToSession: false });
  return {
    child: agent.child,
    control,
    port: (name) => agent.port(name),
    async stop() {
      await control.close().catch(() => undefined);
      await agent.stop();
    },
  };
}
