// `netimpair reset --proxy NAME [--conn ID]`: RST live connections now.
import type { Command } from "commander";
import { collect, paramLabels, proxySelection } from "../flags.js";
import { fleetContext } from "../globals.js";
import { perAgentLines, report, UsageError } from "../output.js";

interface ResetFlags {
  proxy?: string[];
  all?: boolean;
  conn?: string;
}

export function registerReset(program: Command): void {
  program
    .command("reset")
    .description("reset (RST) a proxy's live connections, or one of them")
    .option("--proxy <name>", "proxy whose connections are reset (repeatable)", collect)
    .option("--all", "every proxy")
    .option("--conn <id>", "only this connection (ids: netimpair conns)")
    .action(async (flags: ResetFlags, cmd: Command) => {
      const proxies = proxySelection(flags.proxy, flags.all);
      if (flags.conn !== undefined && (proxies.length !== 1 || proxies[0] === "*")) {
        throw new UsageError(`--conn ${JSON.stringify(flags.conn)}: needs exactly one --proxy NAME`);
      }
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run(async (client) => {
        const out: { proxy: string; reset: number }[] = [];
        for (const proxy of proxies) {
          const r = await client.reset(proxy, flags.conn);
          out.push({ proxy, reset: r.reset });
        }
        return out;
      }, paramLabels({ proxy: "--proxy", id: "--conn" }));
      process.exitCode = report(outcomes, ctx.json, (ok, multi) =>
        perAgentLines(ok, multi, (rs) => rs.map((r) => `${r.proxy === "*" ? "all proxies" : r.proxy}: reset ${r.reset} connection${r.reset === 1 ? "" : "s"}`)),
      );
    });
}
