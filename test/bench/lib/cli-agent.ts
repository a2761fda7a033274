// The agent as users run it: `netimpair agent` (the CLI, its own process) with one proxy
// "bench" (or the proxies given), driven over its control channel; its CPU and memory read from /proc.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type ControlClient } from "../../../src/control/client.js";
import { cliPath, startHealthyAgent, type AgentProcess } from "../../deploy/agent-process.js";
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
  const { agent, port: controlPort } = await startHealthyAgent(async (control) => [
    "agent",
    "--control",
    `127.0.0.1:${control}`,
    "--proxy",
    `bench=127.0.0.1:0,127.0.0.1:${upstreamPort}`,
    "--log-level",
    "warn",
  ]);
  const control = await connect(`ws://127.0.0.1:${controlPort}/control`, { bindToSession: false });
  const proxy = (await control.proxies()).find((p) => p.name === "bench");
  if (!proxy) throw new Error("the agent has no proxy bench");
  const pid = agent.child.pid!;
  return {
    agent,
    control,
    port: Number(proxy.listen.slice(proxy.listen.lastIndexOf(":") + 1)),
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
  const args = [...workerFlags, cliPath, "agent", "--control", "127.0.0.1:0", "--log-level", "warn", ...proxies.flatMap((p) => ["--proxy", p])];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no control URL within 10 s; output: ${out}`)), 10_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /control (wss?:\/\/\S+)/.exec(out) ?? /"url":"(wss?:\/\/[^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`agent exited (${code}) before serving: ${out}`)));
  });
  const control = await connect(url, { bindToSession: false });
  const listed = await control.proxies();
  return {
    child,
    control,
    port(name) {
      const p = listed.find((x) => x.name === name);
      if (!p) throw new Error(`the agent has no proxy ${name}`);
      return Number(p.listen.slice(p.listen.lastIndexOf(":") + 1));
    },
    async stop() {
      await control.close().catch(() => undefined);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}
