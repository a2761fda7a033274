// `netimpair agent [--config agent.yaml] [--control HOST:PORT] [--proxy NAME=LISTEN,UPSTREAM]...
//  [--profiles DIR] [--token-file F] [--tls-cert F --tls-key F] [--label k=v]... [--log-level L]
//  [--insecure] [--allow-origin ORIGIN]... [--allow-host NAME]... [--proxy-tls NAME=ITEMS]...
//  [--state-dir DIR] [--ca-cert F --ca-key F]`
import type { Command } from "commander";
import type { AgentFlags } from "../../agent/config.js";
import { collect } from "../flags.js";
import { ExitCode, UsageError } from "../output.js";

interface AgentCommandFlags {
  config?: string;
  control?: string;
  proxy?: string[];
  profiles?: string;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  label?: string[];
  logLevel?: string;
  insecure?: boolean;
  allowOrigin?: string[];
  allowHost?: string[];
  proxyTls?: string[];
  stateDir?: string;
  caCert?: string;
  caKey?: string;
  linkWriteBudget?: string;
}

/** The flags as runAgent takes them; flag syntax problems are usage errors (the agent checks the rest). */
export function agentFlags(f: AgentCommandFlags): AgentFlags {
  for (const l of f.label ?? []) {
    if (l.indexOf("=") <= 0) throw new UsageError(`--label ${JSON.stringify(l)}: expected key=value`);
  }
  if ((f.tlsCert === undefined) !== (f.tlsKey === undefined)) {
    throw new UsageError(f.tlsCert === undefined ? `--tls-key ${JSON.stringify(f.tlsKey)}: needs --tls-cert too` : `--tls-cert ${JSON.stringify(f.tlsCert)}: needs --tls-key too`);
  }
  const flags: AgentFlags = { proxy: f.proxy ?? [], label: f.label ?? [], allowOrigin: f.allowOrigin ?? [] };
  if (f.config !== undefined) flags.config = f.config;
  if (f.control !== undefined) flags.control = f.control;
  if (f.profiles !== undefined) flags.profiles = f.profiles;
  if (f.tokenFile !== undefined) flags.tokenFile = f.tokenFile;
  if (f.tlsCert !== undefined) flags.tlsCert = f.tlsCert;
  if (f.tlsKey !== undefined) flags.tlsKey = f.tlsKey;
  if (f.logLevel !== undefined) flags.logLevel = f.logLevel;
  if (f.insecure) flags.insecure = true;
  if (f.allowHost !== undefined) flags.allowHost = f.allowHost;
  if (f.proxyTls !== undefined) flags.proxyTls = f.proxyTls;
  if (f.stateDir !== undefined) flags.stateDir = f.stateDir;
  if (f.caCert !== undefined) flags.caCert = f.caCert;
  if (f.caKey !== undefined) flags.caKey = f.caKey;
  if (f.linkWriteBudget !== undefined) flags.linkWriteBudget = f.linkWriteBudget;
  return flags;
}

export function registerAgent(program: Command): void {
  program
    .command("agent")
    .description("run the impairment agent (proxies plus the control channel)")
    .option("--config <file>", "agent.yaml (flags override it)")
    .option("--control <host:port>", "control/metrics address (default 127.0.0.1:8474)")
    .option("--proxy <name=listen,upstream>", "a proxy, e.g. pg=127.0.0.1:15432,127.0.0.1:5432 (repeatable)", collect)
    .option("--proxy-tls <name=items>", "TLS on a proxy's sides, e.g. pg=client:auto,upstream:verify (items: client:auto, client.cert:F, client.key:F, upstream:verify|insecure, upstream.ca:F, upstream.servername:N, upstream.cert:F, upstream.key:F; repeatable; docs/tls.md)", collect)
    .option("--state-dir <dir>", "where the agent's CA is made and kept (default $XDG_STATE_HOME/netimpair or ~/.local/state/netimpair)")
    .option("--ca-cert <file>", "use this CA certificate for proxies' client-side TLS (with --ca-key)")
    .option("--ca-key <file>", "... and its key")
    .option("--profiles <dir>", "folder of extra profile YAML files")
    .option("--token-file <file>", "bearer token required on the control channel")
    .option("--tls-cert <file>", "serve HTTPS/WSS with this certificate")
    .option("--tls-key <file>", "... and this key")
    .option("--label <k=v>", "label reported by agent.info (repeatable)", collect)
    .option("--link-write-budget <n>", "writes a second the links make before merging a slow link's segments into fewer writes (default 2000; 0: never; docs/profiles.md#write-moderation)")
    .option("--log-level <level>", "fatal, error, warn, info, debug, trace or silent")
    .option("--insecure", "allow control on a non-loopback address without a token")
    .option("--allow-origin <origin>", "browser Origin allowed to use the control channel (repeatable)", collect)
    .option("--allow-host <name>", "host name the agent answers to besides loopback and IP addresses (DNS rebinding protection; repeatable)", collect)
    .action(async (f: AgentCommandFlags) => {
      const flags = agentFlags(f);
      // loaded on demand: the other commands never pay for the agent's modules
      const [{ runAgent }, { ConfigError }] = await Promise.all([import("../../agent/run.js"), import("../../agent/config.js")]);
      try {
        await runAgent(flags);
      } catch (err) {
        if (err instanceof ConfigError) throw new UsageError(err.message);
        process.stderr.write(`netimpair agent: ${(err as Error).message}\n`);
        process.exitCode = ExitCode.Failed;
      }
    });
}
