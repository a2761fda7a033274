// The global options every fleet command shares (--agent, --agents, --select, --token, --ca, --json,
// --timeout, --concurrency) and the context a command runs in.
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { collect, durationFlag, positiveIntFlag } from "./flags.js";
import { DEFAULT_CONCURRENCY, fanOut, resolveTargets, type AgentTarget, type FieldLabeller } from "./fleet.js";
import type { ControlClient } from "../control/client.js";
import { UsageError, type AgentOutcome } from "./output.js";

export interface GlobalOptions {
  agent?: string[];
  agents?: string;
  select?: string[];
  token?: string;
  ca?: string;
  json?: boolean;
  timeout?: string;
  concurrency?: string;
}

/** Declares the global options on the program (they may stand before or after the command). */
export function addGlobalOptions(program: Command): Command {
  return program
    .option("--agent <url>", "agent control URL (repeatable, comma-separated; dns://NAME:PORT = every address of NAME) [env NETIMPAIR_AGENT, default ws://127.0.0.1:8474/control]", collect)
    .option("--agents <file>", "YAML inventory: agents: [{name, url, labels, tokenFile}]")
    .option("--select <key=value,...>", "only inventory agents whose labels match every pair", collect)
    .option("--token <token>", "bearer token for the agents [env NETIMPAIR_TOKEN]")
    .option("--ca <file>", "PEM CA certificate(s) to trust for wss:// agents (env NODE_EXTRA_CA_CERTS works too)")
    .option("--json", "print one JSON document")
    .option("--timeout <duration>", "per-agent timeout", "10s")
    .option("--concurrency <n>", "agents contacted at once", String(DEFAULT_CONCURRENCY));
}

export interface FleetContext {
  targets: AgentTarget[];
  json: boolean;
  timeoutMs: number;
  concurrency: number;
  /**
   * Runs `work` on every target (parallel, limited, timed out; `signal` aborts at the timeout).
   * `label` names request fields by the flags they came from when an agent refuses them.
   */
  run<R>(work: (client: ControlClient, target: AgentTarget, signal: AbortSignal) => Promise<R>, label?: FieldLabeller): Promise<AgentOutcome<R>[]>;
}

/** `--ca FILE`: the certificate(s), read once; an unreadable or non-PEM file is a usage error. */
export async function readCaFile(file: string): Promise<Buffer> {
  let pem: Buffer;
  try {
    pem = await readFile(file);
  } catch (err) {
    throw new UsageError(`--ca ${JSON.stringify(file)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new UsageError(`--ca ${JSON.stringify(file)}: not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  return pem;
}

export function globalsOf(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/**
 * Resolves the targets from the global options (usage errors throw UsageError). `agentList`, when
 * given, stands in for --agent (a scenario file's `agents:`); token, CA, timeout and concurrency
 * still come from the flags and `env`.
 */
export async function fleetContext(cmd: Command, env: NodeJS.ProcessEnv = process.env, agentList?: string[]): Promise<FleetContext> {
  const g = globalsOf(cmd);
  const timeoutMs = durationFlag("--timeout", g.timeout ?? "10s");
  const concurrency = positiveIntFlag("--concurrency", g.concurrency ?? String(DEFAULT_CONCURRENCY));
  const token = g.token ?? (env.NETIMPAIR_TOKEN !== undefined && env.NETIMPAIR_TOKEN !== "" ? env.NETIMPAIR_TOKEN : undefined);
  const ca = g.ca !== undefined ? await readCaFile(g.ca) : undefined;
  const targets = await resolveTargets({
    ...(ca !== undefined ? { ca } : {}),
    agent: agentList ?? g.agent ?? [],
    ...(agentList === undefined && g.agents !== undefined ? { agents: g.agents } : {}),
    select: g.select ?? [],
    ...(token !== undefined ? { token } : {}),
    env,
  });
  return {
    targets,
    json: g.json === true,
    timeoutMs,
    concurrency,
    run: (work, label) => fanOut(targets, work, { timeoutMs, concurrency, ...(label !== undefined ? { label } : {}) }),
  };
}
