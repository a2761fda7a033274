// `netimpair proxy add NAME --listen HOST:PORT --upstream HOST:PORT` · `proxy rm NAME` · `proxy ls`
// · `proxy update NAME [--upstream HOST:PORT] [--enable | --disable]`
import type { Command } from "commander";
import { hostPortFlag, paramLabels } from "../flags.js";
import { fleetContext } from "../globals.js";
import { perAgentLines, report, UsageError } from "../output.js";
import { renderStatusTable, withThroughput } from "../status-view.js";
import { tlsClientFlag, tlsNote, tlsUpstreamFlag } from "../tls-flags.js";
import type { ProxyTlsSpec } from "../../control/protocol.js";

interface AddFlags {
  listen?: string;
  upstream?: string;
  disabled?: boolean;
  protocol?: string;
  udpIdle?: string;
  udpMaxFlows?: string;
  tlsClient?: string;
  tlsUpstream?: string;
}

interface UpdateFlags {
  upstream?: string;
  enable?: boolean;
  disable?: boolean;
  protocol?: string;
  tlsClient?: string;
  tlsUpstream?: string;
  tlsOff?: boolean;
}

const TLS_CLIENT_HELP = "clients speak TLS to the agent: auto (a certificate from the agent's CA) or cert=FILE,key=FILE";
const TLS_UPSTREAM_HELP = "the agent speaks TLS to the upstream: verify, insecure, or ca=FILE[,servername=NAME][,cert=FILE,key=FILE]";

export function registerProxy(program: Command): void {
  const proxy = program.command("proxy").description("add, remove, change and list proxies");

  proxy
    .command("add")
    .description("add a proxy (listen port 0 = the agent picks one)")
    .argument("<name>", "proxy name")
    .option("--listen <host:port>", "address the proxy listens on")
    .option("--upstream <host:port>", "address it relays to")
    .option("--disabled", "create it without listening")
    .option("--udp-idle <duration>", "udp and dns proxies: a flow silent this long closes (default 60s)")
    .option("--udp-max-flows <n>", "udp and dns proxies: flows at most; the one idle the longest makes room (default 1024)")
    .option("--protocol <protocol>", "what it carries: tcp (default) | http | grpc | postgres | mysql | redis | udp | dns (request faults need one; udp and dns listen for datagrams, dns on TCP too)")
    .option("--tls-client <spec>", TLS_CLIENT_HELP)
    .option("--tls-upstream <spec>", TLS_UPSTREAM_HELP)
    .action(async (name: string, flags: AddFlags, cmd: Command) => {
      if (flags.listen === undefined) throw new UsageError("proxy add: missing --listen HOST:PORT");
      if (flags.upstream === undefined) throw new UsageError("proxy add: missing --upstream HOST:PORT");
      const listen = hostPortFlag("--listen", flags.listen);
      const upstream = hostPortFlag("--upstream", flags.upstream);
      const tls: ProxyTlsSpec = {};
      if (flags.tlsClient !== undefined) tls.client = tlsClientFlag(flags.tlsClient, false)!;
      if (flags.tlsUpstream !== undefined) tls.upstream = tlsUpstreamFlag(flags.tlsUpstream, false)!;
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run(
        (client) =>
          client.createProxy(name, listen, upstream, flags.disabled ? false : undefined, flags.protocol, Object.keys(tls).length > 0 ? tls : undefined, {
            ...(flags.udpIdle !== undefined ? { udpIdle: flags.udpIdle } : {}),
            ...(flags.udpMaxFlows !== undefined ? { udpMaxFlows: /^\d+$/.test(flags.udpMaxFlows) ? Number(flags.udpMaxFlows) : (flags.udpMaxFlows as unknown as number) } : {}),
          }),
        paramLabels({ name: "NAME", listen: "--listen", upstream: "--upstream", protocol: "--protocol", enabled: "--disabled", tls: "--tls-client/--tls-upstream", udpIdle: "--udp-idle", udpMaxFlows: "--udp-max-flows" }),
      );
      process.exitCode = report(outcomes, ctx.json, (ok, multi) =>
        perAgentLines(ok, multi, (p) => [`${p.name}: ${p.listen} -> ${p.upstream}${protocolNote(p.protocol)}${tlsNote(p.tls)}${p.enabled ? "" : " (disabled)"}`]),
      );
    });

  proxy
    .command("rm")
    .description("remove a proxy and close its connections")
    .argument("<name>", "proxy name")
    .action(async (name: string, _flags: Record<string, never>, cmd: Command) => {
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run((client) => client.deleteProxy(name), paramLabels({ name: "NAME" }));
      process.exitCode = report(outcomes, ctx.json, (ok, multi) => perAgentLines(ok, multi, () => [`${name}: removed`]));
    });

  proxy
    .command("update")
    .description("change a proxy's upstream or enable/disable it")
    .argument("<name>", "proxy name")
    .option("--upstream <host:port>", "new upstream (new connections dial it)")
    .option("--enable", "start listening")
    .option("--disable", "stop listening and close its connections")
    .option("--protocol <protocol>", "what it carries from now on (new connections): tcp | http | grpc | postgres | mysql | redis | udp | dns (between TCP and UDP only while disabled)")
    .option("--tls-client <spec>", `${TLS_CLIENT_HELP}, or off (new connections)`)
    .option("--tls-upstream <spec>", `${TLS_UPSTREAM_HELP}, or off (new connections)`)
    .option("--tls-off", "no TLS on either side from now on (new connections)")
    .action(async (name: string, flags: UpdateFlags, cmd: Command) => {
      if (flags.enable && flags.disable) throw new UsageError("proxy update: --enable and --disable: give one or the other");
      if (flags.tlsOff && (flags.tlsClient !== undefined || flags.tlsUpstream !== undefined)) throw new UsageError("proxy update: --tls-off and --tls-client/--tls-upstream: give one or the other");
      const change: { upstream?: string; enabled?: boolean; protocol?: string; tls?: Record<string, unknown> | null } = {};
      if (flags.tlsOff) change.tls = null;
      else if (flags.tlsClient !== undefined || flags.tlsUpstream !== undefined) {
        change.tls = {};
        if (flags.tlsClient !== undefined) change.tls.client = tlsClientFlag(flags.tlsClient, true);
        if (flags.tlsUpstream !== undefined) change.tls.upstream = tlsUpstreamFlag(flags.tlsUpstream, true);
      }
      if (flags.protocol !== undefined) change.protocol = flags.protocol;
      if (flags.upstream !== undefined) change.upstream = hostPortFlag("--upstream", flags.upstream);
      if (flags.enable) change.enabled = true;
      if (flags.disable) change.enabled = false;
      if (Object.keys(change).length === 0) throw new UsageError("proxy update: nothing to change (give --upstream, --protocol, --enable, --disable, --tls-client, --tls-upstream or --tls-off)");
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run(
        (client) => client.updateProxy(name, change),
        paramLabels({ name: "NAME", upstream: "--upstream", protocol: "--protocol", enabled: flags.enable ? "--enable" : "--disable", tls: "--tls-client/--tls-upstream" }),
      );
      process.exitCode = report(outcomes, ctx.json, (ok, multi) =>
        perAgentLines(ok, multi, (p) => [`${p.name}: ${p.listen} -> ${p.upstream}${protocolNote(p.protocol)}${tlsNote(p.tls)}${p.enabled ? "" : " (disabled)"}`]),
      );
    });

  proxy
    .command("ls")
    .description("list proxies")
    .action(async (_flags: Record<string, never>, cmd: Command) => {
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run((client) => client.proxies());
      process.exitCode = report(outcomes, ctx.json, (ok) =>
        renderStatusTable(
          ok.map((o) => ({ agent: o.agent, proxies: withThroughput(null, o.result, 0) })),
          false,
        ),
      );
    });
}

/** " [redis]" for a protocol proxy, nothing for tcp. */
export function protocolNote(protocol: string | undefined): string {
  return protocol === undefined || protocol === "tcp" ? "" : ` [${protocol}]`;
}
