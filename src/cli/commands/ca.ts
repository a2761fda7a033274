// `netimpair ca [--out FILE]`: the agent's CA certificate (PEM), for clients to trust when a proxy
// has tls.client auto. With several agents the file holds each distinct CA once (a bundle).
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { fleetContext } from "../globals.js";
import { report, UsageError } from "../output.js";

interface CaFlags {
  out?: string;
}

export function registerCa(program: Command): void {
  program
    .command("ca")
    .description("print (or write to --out) the agent's CA certificate, which signs the certificates of proxies with tls.client auto")
    .option("--out <file>", "write the PEM here instead of printing it")
    .action(async (flags: CaFlags, cmd: Command) => {
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run((client) => client.caCertificate());
      const pems = [...new Set(outcomes.flatMap((o) => (o.ok ? [o.result.certificate] : [])))];
      if (flags.out !== undefined && pems.length > 0) {
        try {
          writeFileSync(flags.out, pems.join(""), { mode: 0o644 });
        } catch (err) {
          throw new UsageError(`--out ${flags.out}: cannot write it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
        }
      }
      process.exitCode = report(outcomes, ctx.json, (ok) =>
        flags.out !== undefined ? `${flags.out}: ${pems.length} CA certificate${pems.length === 1 ? "" : "s"} from ${ok.map((o) => o.agent).join(", ")}` : pems.join("").trimEnd(),
      );
    });
}
