// `netimpair status`: one table across all agents, throughput from two samples ~1 s apart.
import type { Command } from "commander";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConnInfo } from "../../control/protocol.js";
import { fleetContext } from "../globals.js";
import { report } from "../output.js";
import { renderStatusTable, withThroughput, type ProxyStatus } from "../status-view.js";

export const STATUS_SAMPLE_MS = 1000;

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("proxies, impairments, connections and live throughput of every agent")
    .action(async (_flags: Record<string, never>, cmd: Command) => {
      const ctx = await fleetContext(cmd);
      // the two samples fit in --timeout however short it is
      const sampleMs = Math.min(STATUS_SAMPLE_MS, Math.floor(ctx.timeoutMs / 2));
      const outcomes = await ctx.run(async (client, _target, signal): Promise<ProxyStatus[]> => {
        const first = await client.proxies();
        const t0 = performance.now();
        await sleep(sampleMs, undefined, { signal });
        const second = await client.proxies();
        const proxies = withThroughput(first, second, performance.now() - t0);
        if (!ctx.json) return proxies;
        // --json carries each proxy's connections too (the ids `reset --conn` takes)
        const conns = (await client.connections("*")) as (ConnInfo & { proxy: string })[];
        return proxies.map((p) => ({ ...p, connections: conns.filter((c) => c.proxy === p.name).map(({ proxy: _proxy, ...c }) => c) }));
      });
      process.exitCode = report(outcomes, ctx.json, (ok) => renderStatusTable(ok.map((o) => ({ agent: o.agent, proxies: o.result }))));
    });
}
