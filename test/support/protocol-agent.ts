// An agent started the way users start it: `netimpair agent` (the CLI) in its own process, with
// proxies from --proxy flags, and a control client connected to it. Close() stops it (SIGTERM).
import type { ChildProcess } from "node:child_process";
import type { ControlClient } from "../../src/control/client.js";
import type { ProxyInfo } from "../../src/control/protocol.js";
import { connectToCliAgent, spawnCliAgent } from "./cli-agent.js";

export interface CliAgent {
  child: ChildProcess;
  url: string;
  ctl: ControlClient;
  /** listen port of each proxy, by name */
  port(name: string): number;
  proxies(): Promise<ProxyInfo[]>;
  /** what the agent wrote so far, stdout and stderr (its pino log with --log-level info) */
  stderr(): string;
  close(): Promise<void>;
}

/** Starts `netimpair agent --control 127.0.0.1:0 --proxy ...` (flags as given: NAME=LISTEN,UPSTREAM[,PROTOCOL]). */
export async function startCliAgent(proxyFlags: string[], extra: string[] = []): Promise<CliAgent> {
  const agent = await spawnCliAgent({ args: [...proxyFlags.flatMap((p) => ["--proxy", p]), ...extra], logLevel: null });
  const ctl = await connectToCliAgent(agent);
  let listed = await ctl.proxies();
  return {
    child: agent.child,
    url: agent.url,
    ctl,
    port(name) {
      const p = listed.find((x) => x.name === name);
      if (!p) throw new Error(`no proxy ${name}`);
      return Number(p.listen.slice(p.listen.lastIndexOf(":") + 1));
    },
    async proxies() {
      listed = await ctl.proxies();
      return listed;
    },
    stderr: () => agent.output(),
    async close() {
      await ctl.close().catch(() => undefined);
      await agent.stop();
    },
  };
}
