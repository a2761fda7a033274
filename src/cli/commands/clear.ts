// `netimpair clear [--proxy NAME... | --all]` (no flag = every proxy)
import type { Command } from "commander";
import { collect, paramLabels, proxySelection } from "../flags.js";
import { fleetContext } from "../globals.js";
import { perAgentLines, report } from "../output.js";
import { describeRemoved } from "../status-view.js";
import type { RemovedImpairment } from "../../control/protocol.js";

interface ClearFlags {
  proxy?: string[];
  all?: boolean;
}

export function registerClear(program: Command): void {
  program
    .command("clear")
    .description("return proxies to clean at once, Toxiproxy toxics removed too (default: every proxy)")
    .option("--proxy <name>", "proxy to clear (repeatable)", collect)
    .option("--all", "every proxy (the default)")
    .action(async (flags: ClearFlags, cmd: Command) => {
      const proxies = proxySelection(flags.proxy, flags.all, true);
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run(async (client) => {
        const cleared: string[] = [];
        const removed: RemovedImpairment[] = [];
        for (const proxy of proxies) {
          const r = await client.clear(proxy);
          for (const x of Array.isArray(r) ? r : [r]) {
            cleared.push(x.proxy);
            removed.push({ proxy: x.proxy, ...x.removed });
          }
        }
        return { cleared, removed };
      }, paramLabels({ proxy: "--proxy" }));
      process.exitCode = report(outcomes, ctx.json, (ok, multi) =>
        perAgentLines(ok, multi, (r) =>
          r.cleared.length === 0
            ? ["no proxies"]
            : r.removed.map((x) => (x.profile === null && x.toxics.length === 0 ? `${x.proxy}: cleared (was clean)` : `${x.proxy}: cleared, removed ${describeRemoved(x)}`)),
        ),
      );
    });
}
