// `netimpair panic`: the kill switch, agent.panic on every agent given, in parallel.
import type { Command } from "commander";
import { fleetContext } from "../globals.js";
import { perAgentLines, report } from "../output.js";
import { describeRemoved } from "../status-view.js";

export function registerPanic(program: Command): void {
  program
    .command("panic")
    .description("clear every impairment (Toxiproxy toxics too) on every proxy of every agent and cancel pending ttls")
    .action(async (_flags: Record<string, never>, cmd: Command) => {
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run((client) => client.panic());
      process.exitCode = report(outcomes, ctx.json, (ok, multi) =>
        perAgentLines(ok, multi, (r) => [
          r.removed.length === 0
            ? `panic: nothing was impaired${r.cleared.length > 0 ? ` (${r.cleared.join(", ")} clean)` : ""}`
            : `panic: removed ${r.removed.map((x) => `${describeRemoved(x)} from ${x.proxy}`).join("; ")}`,
        ]),
      );
    });
}
