// `netimpair conns [--proxy NAME... | --all]`: the live connections of the agents' proxies, with
// the ids `netimpair reset --conn ID` takes, what impairs each one and what it carries.
import type { Command } from "commander";
import type { ConnInfo, ProxyInfo } from "../../control/protocol.js";
import type { ControlClient } from "../../control/client.js";
import { formatBytes } from "../../units.js";
import { collect, paramLabels, proxySelection } from "../flags.js";
import { fleetContext } from "../globals.js";
import { renderTable, report, type OkOutcome } from "../output.js";
import { describeToxics } from "../status-view.js";

/** One connection as `conns --json` prints it: conn.list's fields, its proxy and the proxy's protocol. */
export interface ConnRow extends ConnInfo {
  proxy: string;
  /** tcp | http | grpc | postgres | mysql | redis | udp | dns */
  protocol: string;
}

interface ConnsFlags {
  proxy?: string[];
  all?: boolean;
}

/** The connections of the named proxies ("*" = every proxy), each with its proxy and protocol. */
export async function listConnections(client: ControlClient, proxies: readonly string[], infos?: ProxyInfo[]): Promise<{ rows: ConnRow[]; proxies: ProxyInfo[] }> {
  const known = infos ?? (await client.proxies());
  const protocolOf = new Map(known.map((p) => [p.name, p.protocol]));
  const rows: ConnRow[] = [];
  for (const proxy of proxies) {
    const conns = (await client.connections(proxy)) as (ConnInfo & { proxy?: string })[];
    for (const c of conns) {
      const name = c.proxy ?? proxy;
      rows.push({ ...c, proxy: name, protocol: protocolOf.get(name) ?? "tcp" });
    }
  }
  return { rows, proxies: known };
}

/** "12s", "3m04s", "2h05m": how long a connection has been open. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** "2 failed, 1 delayed": the request faults injected on a connection, by outcome. */
export function describeRequestFaults(faults: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const f of faults) counts.set(f, (counts.get(f) ?? 0) + 1);
  return [...counts].map(([outcome, n]) => `${n} ${outcome}`).join(", ");
}

/**
 * The IMPAIRED cell: what acts on this connection. The proxy's profile and toxics when the
 * connection is impaired (it may be outside --percent or --client), then the request faults
 * injected on it; "-" when nothing does.
 */
export function describeConnImpairment(c: ConnInfo, proxy: ProxyInfo | undefined): string {
  const parts: string[] = [];
  if (c.impaired) {
    if (proxy?.impairment) parts.push(proxy.impairment.profile);
    if (proxy && proxy.toxics.length > 0) parts.push(`toxics: ${describeToxics(proxy.toxics)}`);
    if (parts.length === 0) parts.push("yes");
  }
  if (c.requestFaults !== undefined && c.requestFaults.length > 0) parts.push(`requests: ${describeRequestFaults(c.requestFaults)}`);
  return parts.length === 0 ? "-" : parts.join(" + ");
}

/** The PROTOCOL cell: the proxy's protocol, and why request faults are off for this connection if they are. */
export function describeConnProtocol(c: ConnRow): string {
  // a UDP flow of a dns proxy says so (its TCP connections are plain "dns")
  const what = c.transport === "udp" && c.protocol !== "udp" ? `${c.protocol}/udp` : c.protocol;
  return c.requestsOff ? `${what} (requests off: ${c.requestsOff})` : what;
}

export function renderConnsTable(ok: OkOutcome<{ rows: ConnRow[]; proxies: ProxyInfo[] }>[], multi: boolean, nowMs = Date.now()): string {
  const headers = [...(multi ? ["AGENT"] : []), "ID", "PROXY", "CLIENT", "AGE", "UP", "DOWN", "IMPAIRED", "PROTOCOL"];
  const body: string[][] = [];
  for (const o of ok) {
    const byName = new Map(o.result.proxies.map((p) => [p.name, p]));
    for (const c of o.result.rows) {
      body.push([
        ...(multi ? [o.agent] : []),
        c.id,
        c.proxy,
        c.client,
        formatAge(nowMs - Date.parse(c.openedAt)),
        formatBytes(c.bytesUp),
        formatBytes(c.bytesDown),
        describeConnImpairment(c, byName.get(c.proxy)),
        describeConnProtocol(c),
      ]);
    }
  }
  if (body.length === 0) return "no connections";
  return renderTable(headers, body);
}

export function registerConns(program: Command): void {
  program
    .command("conns")
    .description("live connections of the proxies (ids for reset --conn, what impairs each, protocol)")
    .option("--proxy <name>", "only this proxy's connections (repeatable)", collect)
    .option("--all", "every proxy (the default)")
    .action(async (flags: ConnsFlags, cmd: Command) => {
      const proxies = proxySelection(flags.proxy, flags.all, true);
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run((client) => listConnections(client, proxies), paramLabels({ proxy: "--proxy" }));
      const json = outcomes.map((o) => (o.ok ? { ...o, result: o.result.rows } : o));
      process.exitCode = ctx.json ? report(json, true, () => "") : report(outcomes, false, (ok, multi) => renderConnsTable(ok, multi));
    });
}
