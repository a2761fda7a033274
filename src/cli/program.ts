// The `netimpair` program: global fleet options, one module per command, exit codes.
import { VERSION } from "../version.js";
import { Command, CommanderError } from "commander";
import { addGlobalOptions } from "./globals.js";
import { ExitCode, UsageError } from "./output.js";
import { registerAgent } from "./commands/agent.js";
import { registerApply } from "./commands/apply.js";
import { registerCa } from "./commands/ca.js";
import { registerClear } from "./commands/clear.js";
import { registerConns } from "./commands/conns.js";
import { registerPanic } from "./commands/panic.js";
import { registerProfiles } from "./commands/profiles.js";
import { registerProxy } from "./commands/proxy.js";
import { registerReset } from "./commands/reset.js";
import { registerRun } from "./commands/run.js";
import { registerStatus } from "./commands/status.js";
import { registerWatch } from "./commands/watch.js";

/** Each command module adds itself to the program. Scenarios (`run`) add theirs here too. */
const COMMANDS: ((program: Command) => void)[] = [
  registerAgent,
  registerProxy,
  registerApply,
  registerClear,
  registerStatus,
  registerWatch,
  registerConns,
  registerProfiles,
  registerReset,
  registerPanic,
  registerRun,
  registerCa,
];

export function buildProgram(): Command {
  const program = new Command("netimpair");
  program
    .description("TCP network impairment agent and its controller")
    .version(VERSION, "-V, --version")
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  addGlobalOptions(program);
  for (const register of COMMANDS) register(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; every parse problem is a usage error
      process.exitCode = err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`netimpair: ${err.message}\n`);
      process.exitCode = ExitCode.Usage;
      return;
    }
    process.stderr.write(`netimpair: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = ExitCode.Failed;
  }
}

