// `netimpair agent`: load the config, start, print the control URL, stop cleanly on SIGTERM/SIGINT.
import { loadAgentConfig, type AgentFlags } from "./config.js";
import { startAgent, toStartProxies } from "./start.js";
import type { ProxyTlsSpec } from "../control/protocol.js";

export type { AgentFlags };

/** Hard limit for a clean stop after SIGTERM/SIGINT. */
export const SHUTDOWN_DEADLINE_MS = 5000;

export async function runAgent(flags: AgentFlags): Promise<void> {
  const config = await loadAgentConfig(flags);
  const running = await startAgent({
    control: config.control,
    proxies: toStartProxies(config.proxies),
    profiles: config.profileDirs,
    token: config.token,
    labels: config.labels,
    logLevel: config.logLevel,
    tls: config.tls,
    allowOrigins: config.allowOrigins,
    allowHosts: config.allowHosts,
    insecure: config.insecure,
    maxControlConnections: config.maxControlConnections,
    linkWriteBudget: config.linkWriteBudget,
    ...(config.stateDir !== undefined ? { stateDir: config.stateDir } : {}),
    ...(config.ca !== undefined ? { ca: config.ca } : {}),
  });
  const proxies = running.agent
    .listProxies()
    .map((p) => `${p.name} ${p.listen} -> ${p.upstream}${p.protocol !== "tcp" ? ` [${p.protocol}]` : ""}${tlsSides(p.tls)}`)
    .join(", ");
  process.stderr.write(`netimpair agent ${running.agent.version} control ${running.url}${proxies ? ` proxies: ${proxies}` : ""}\n`);
  // a profile file that did not load is skipped, not fatal: say so where a person looks
  for (const problem of running.agent.registry.loadErrors) process.stderr.write(`netimpair agent: profile skipped: ${problem}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      running.log.info({ event: "agent.signal", signal }, `received ${signal}, stopping`);
      const deadline = setTimeout(() => {
        process.stderr.write(`netimpair agent: shutdown took over ${SHUTDOWN_DEADLINE_MS} ms, exiting\n`);
        process.exit(0);
      }, SHUTDOWN_DEADLINE_MS - 250);
      deadline.unref();
      running
        .close()
        .catch(() => undefined)
        .finally(() => {
          process.off("SIGTERM", stop);
          process.off("SIGINT", stop);
          resolve();
        });
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

/** " tls(client)", " tls(upstream)", " tls(both)" on the ready line, as status marks a proxy. */
function tlsSides(tls: ProxyTlsSpec | undefined): string {
  if (tls === undefined) return "";
  return ` tls(${tls.client !== undefined && tls.upstream !== undefined ? "both" : tls.client !== undefined ? "client" : "upstream"})`;
}
