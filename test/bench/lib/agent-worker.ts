// Worker process: several whole netimpair agents (control port + one proxy "bench" each), as
// the library's startAgent runs them.
import { startAgent, type RunningAgent } from "../../../src/index.js";
import { serve } from "./ipc.js";

const agents: RunningAgent[] = [];

export interface StartedAgent {
  url: string;
  proxyPort: number;
}

serve({
  async start(args: { count: number; upstreamPort: number }): Promise<StartedAgent[]> {
    const out: StartedAgent[] = [];
    for (let i = 0; i < args.count; i++) {
      const a = await startAgent({
        control: "127.0.0.1:0",
        proxies: [{ name: "bench", listen: "127.0.0.1:0", upstream: `127.0.0.1:${args.upstreamPort}` }],
      });
      agents.push(a);
      const listen = a.agent.getProxy("bench")!.listen;
      out.push({ url: a.url, proxyPort: Number(listen.slice(listen.lastIndexOf(":") + 1)) });
    }
    return out;
  },
  async closeAll(): Promise<number> {
    await Promise.all(agents.map((a) => a.close()));
    const n = agents.length;
    agents.length = 0;
    return n;
  },
});
