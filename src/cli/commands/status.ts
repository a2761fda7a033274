// `netimpair status`: one table across all agents, throughput from two samples ~1 s apart.
import type { Command } from "commander";
import { setTimeout as sleep } from "node:timers/promises";
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
      const outcomes = await ctx.run(async (client): Promise<ProxyStatus[]> => {
        const first = await client.proxies();
        const t0 = performance.now();
        await sleep(STATUS_SAMPLE_MS);
        const second = await client.proxies();
        return withThroughput(first, second, performance.now() - t0);
      });
      process.exitCode = report(outcomes, ctx.json, (ok) => renderStatusTable(ok.map((o) => ({ agent: o.agent, proxies: o.result }))));
    });
}
