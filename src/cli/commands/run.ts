// `netimpair run SCENARIO [--report F] [--junit F] [--summary F] [--html F] [--baseline] [-- COMMAND ARGS...]`
import { constants } from "node:os";
import type { Command } from "commander";
import { parseAgentAddress } from "../fleet.js";
import { fleetContext, globalsOf } from "../globals.js";
import { UsageError } from "../output.js";
import { loadScenarioFile, ScenarioLoadError } from "../../scenario/load.js";
import { runScenario } from "../../scenario/runner.js";
import { renderJunit } from "../../report/junit.js";
import { renderMarkdown } from "../../report/markdown.js";
import { streamProgress } from "../../scenario/progress.js";
import type { RunningCommand } from "../../scenario/command.js";
import { shellQuote } from "../../report/shell-quote.js";
import type { AgentRef } from "../../scenario/session.js";
import type { Scenario } from "../../scenario/types.js";
import { renderHtmlReport } from "../../report/html.js";
import { checkOutputs, writeOutput, type OutputFile } from "./run-outputs.js";
import { newSeries } from "../../report/series.js";

interface RunFlags {
  report?: string;
  junit?: string;
  summary?: string;
  html?: string;
  baseline?: boolean;
}

/**
 * The agents of a run: --agent / --agents (with --select) from the command line, else the
 * scenario's `agents:`, else env NETIMPAIR_AGENT, else the default agent. (Other commands have no
 * file: for them the command line wins over the env, which wins over the default, as here.)
 */
async function agentsOf(cmd: Command, scenario: Scenario, file: string): Promise<{ agents: AgentRef[]; timeoutMs: number }> {
  const g = globalsOf(cmd);
  const onCommandLine = (g.agent?.length ?? 0) > 0 || g.agents !== undefined;
  let ctx: Awaited<ReturnType<typeof fleetContext>>;
  if (onCommandLine || scenario.agents.length === 0) ctx = await fleetContext(cmd);
  else {
    // the file's list: NETIMPAIR_AGENT is not read at all
    const env = { ...process.env };
    delete env.NETIMPAIR_AGENT;
    // a bad URL in the file is named as the file's, not as an --agent flag
    scenario.agents.forEach((a, i) => parseAgentAddress(a, `${file}: agents, entry ${i + 1}`));
    ctx = await fleetContext(cmd, env, scenario.agents);
  }
  // an agent that cannot be reached at the start means nothing runs (a dns:// name with no address)
  const unreachable = ctx.targets.filter((t) => t.unreachable !== undefined);
  if (unreachable.length > 0) throw new AgentsUnreachable(unreachable.map((t) => `${t.url}: ${t.unreachable}`));
  return { agents: ctx.targets, timeoutMs: ctx.timeoutMs };
}

/** Agents that cannot be reached before the run starts: reported, exit 1. */
class AgentsUnreachable extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join("\n"));
  }
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("play a scenario's timeline, optionally around a command (-- COMMAND ARGS...); everything applied is reverted at the end")
    .argument("<scenario>", "scenario YAML file")
    .argument("[command...]", "command to run under the scenario (after --); the run returns its exit code")
    .option("--report <file>", "write the JSON report")
    .option("--junit <file>", "write a JUnit XML report (one test case per step)")
    .option("--summary <file>", "also append the Markdown summary to this file (e.g. $GITHUB_STEP_SUMMARY)")
    .option("--html <file>", "write a self-contained HTML report (timeline, probe latency and availability, throughput, tables)")
    .option("--baseline", "run the command once on a clean link first and compare")
    .action(async (file: string, command: string[], flags: RunFlags, cmd: Command) => {
      let scenario: Scenario;
      try {
        scenario = await loadScenarioFile(file);
      } catch (err) {
        if (err instanceof ScenarioLoadError) throw new UsageError(`scenario ${err.message.includes("\n") ? "errors:\n" : ""}${err.message}`);
        throw err;
      }
      if (flags.baseline && command.length === 0) throw new UsageError("--baseline needs a command to run (netimpair run SCENARIO --baseline -- COMMAND ARGS...)");
      const out = (flag: string, path: string | undefined): OutputFile | null => (path === undefined ? null : { flag, path });
      const outputs = { report: out("--report", flags.report), junit: out("--junit", flags.junit), html: out("--html", flags.html), summary: out("--summary", flags.summary) };
      await checkOutputs(Object.values(outputs).filter((o): o is OutputFile => o !== null));
      let agents: AgentRef[];
      let timeoutMs: number;
      try {
        ({ agents, timeoutMs } = await agentsOf(cmd, scenario, file));
      } catch (err) {
        if (!(err instanceof AgentsUnreachable)) throw err;
        for (const line of err.lines) process.stderr.write(`${line}\n`);
        process.exitCode = 1;
        return;
      }
      const json = globalsOf(cmd).json === true;

      const abort = new AbortController();
      let running: RunningCommand | null = null;
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals++;
        const code = 128 + (constants.signals[signal] ?? 2);
        if (signals === 1) {
          process.stderr.write(`\nnetimpair run: ${signal}: stopping and reverting (again to quit at once)\n`);
          abort.abort(signal);
        } else if (signals === 2 && running?.running) {
          // a command that ignores the first signal must not outlive the runner: SIGKILL to
          // its process group, and exit once it is gone; the agents still revert, as the
          // control sessions close with the process
          process.stderr.write(`netimpair run: second ${signal}: killing ${shellQuote(command)} (SIGKILL) and quitting\n`);
          void running.kill().finally(() => process.exit(code));
        } else {
          process.exit(code);
        }
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const series = flags.html ? newSeries() : undefined;
      try {
        const report = await runScenario({
          ...(series ? { series } : {}),
          scenario,
          agents,
          command: command.length > 0 ? command : null,
          baseline: flags.baseline === true,
          timeoutMs,
          signal: abort.signal,
          onCommand: (c) => (running = c),
          progress: streamProgress(process.stderr),
        });
        if (report.stopped) process.stderr.write(`netimpair run: ${report.stopped}\n`);
        const markdown = renderMarkdown(report);
        let wrote = true;
        if (outputs.report) wrote = (await writeOutput(outputs.report, JSON.stringify(report, null, 2) + "\n")) && wrote;
        if (outputs.junit) wrote = (await writeOutput(outputs.junit, renderJunit(report))) && wrote;
        if (outputs.html && series) wrote = (await writeOutput(outputs.html, await renderHtmlReport(report, series))) && wrote;
        if (outputs.summary) wrote = (await writeOutput(outputs.summary, markdown + "\n", true)) && wrote;
        process.stdout.write(json ? JSON.stringify(report, null, 2) + "\n" : markdown + "\n");
        process.exitCode = report.exitCode !== 0 ? report.exitCode : wrote ? 0 : 1;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}
