// The status table shared by `status`, `watch` and `proxy ls`: one row per proxy across agents,
// with live throughput computed from two proxy.list samples.
import type { ConnInfo, ImpairmentState, ProxyInfo, RemovedImpairment, SetOverrides, ToxicInfo } from "../control/protocol.js";
import type { ImpairmentSpec } from "../profiles/types.js";
import { formatBitRate, formatTimeLeft } from "../units.js";
import { renderTable } from "./output.js";

/** A proxy as `status --json` reports it: proxy.list plus throughput (bytes per second). */
export interface ProxyStatus extends ProxyInfo {
  throughputUp: number | null;
  throughputDown: number | null;
  /** its live connections (conn.list), in `status --json` only */
  connections?: ConnInfo[];
}

/** Throughput per proxy between two samples taken `elapsedMs` apart (null for a proxy new in `now`). */
export function withThroughput(before: ProxyInfo[] | null, now: ProxyInfo[], elapsedMs: number): ProxyStatus[] {
  const prev = new Map((before ?? []).map((p) => [p.name, p]));
  return now.map((p) => {
    const b = prev.get(p.name);
    if (!b || elapsedMs <= 0) return { ...p, throughputUp: null, throughputDown: null };
    const rate = (n: number, o: number): number => Math.max(0, ((n - o) * 1000) / elapsedMs);
    return { ...p, throughputUp: rate(p.stats.bytesUp, b.stats.bytesUp), throughputDown: rate(p.stats.bytesDown, b.stats.bytesDown) };
  });
}

/** Who shares the link and how they take turns, when a direction limits bandwidth (else null). */
export function describeSharing(spec: ImpairmentSpec): string | null {
  if (spec.up.bandwidth === null && spec.down.bandwidth === null) return null;
  if (spec.share === "connection") return "link per connection";
  return `link per ${spec.share}, ${spec.queue}`;
}

/** `--set` overrides as given: "down.delay=300ms, reset.after=2s". */
export function describeSet(set: SetOverrides | undefined): string {
  return Object.entries(set ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** Toxiproxy toxics as a short list: "latency_downstream(latency), timeout_upstream(timeout)". */
export function describeToxics(toxics: readonly ToxicInfo[]): string {
  return toxics.map((t) => (t.name.startsWith(t.type) ? t.name : `${t.name}(${t.type})`)).join(", ");
}

/** What a clear or panic removed from a proxy: "profile 4g and toxics latency_downstream" ("nothing" when clean). */
export function describeRemoved(r: RemovedImpairment): string {
  const parts: string[] = [];
  if (r.profile !== null) parts.push(`profile ${r.profile}`);
  if (r.toxics.length > 0) parts.push(`toxic${r.toxics.length === 1 ? "" : "s"} ${r.toxics.join(", ")}`);
  return parts.length === 0 ? "nothing" : parts.join(" and ");
}

/** The request rules an impairment carries, for the IMPAIRMENT cell and the apply line: "2 request rules". */
export function describeRequestRules(spec: ImpairmentSpec): string | null {
  const n = spec.requests?.length ?? 0;
  return n === 0 ? null : `${n} request rule${n === 1 ? "" : "s"}`;
}

/** The IMPAIRMENT cell: the applied profile with its ttl, share, clients and overrides, then any Toxiproxy toxics. */
export function describeImpairment(imp: ImpairmentState | null, nowMs = Date.now(), toxics: readonly ToxicInfo[] = []): string {
  const withToxics = (text: string): string => (toxics.length === 0 ? text : `${text === "-" ? "" : `${text} + `}toxics: ${describeToxics(toxics)}`);
  if (imp === null) return withToxics("-");
  const extras: string[] = [];
  if (imp.set !== undefined && Object.keys(imp.set).length > 0) extras.push(`set ${describeSet(imp.set)}`);
  const rules = describeRequestRules(imp.spec);
  if (rules !== null) extras.push(rules);
  if (imp.expiresAt) {
    const left = Math.max(0, Date.parse(imp.expiresAt) - nowMs);
    extras.push(`${formatTimeLeft(left)} left`);
  }
  const link = describeSharing(imp.spec);
  if (link !== null) extras.push(link);
  if (imp.percent < 100) extras.push(`${imp.percent}%`);
  if (imp.clients.length > 0) extras.push(imp.clients.join(","));
  return withToxics(extras.length > 0 ? `${imp.profile} (${extras.join(", ")})` : imp.profile);
}

function rate(bytesPerSecond: number | null): string {
  return bytesPerSecond === null ? "-" : formatBitRate(bytesPerSecond * 8);
}

export interface AgentProxies {
  agent: string;
  proxies: ProxyStatus[];
}

export function renderStatusTable(rows: AgentProxies[], withRates = true): string {
  const headers = ["AGENT", "PROXY", "LISTEN -> UPSTREAM", "ENABLED", "IMPAIRMENT", "CONNS"];
  if (withRates) headers.push("UP", "DOWN");
  const body: string[][] = [];
  for (const a of rows) {
    if (a.proxies.length === 0) {
      body.push([a.agent, "(no proxies)", "", "", "", "", ...(withRates ? ["", ""] : [])]);
      continue;
    }
    for (const p of a.proxies) {
      const row = [a.agent, p.name, `${p.listen} -> ${p.upstream}${p.protocol !== undefined && p.protocol !== "tcp" ? ` [${p.protocol}]` : ""}${tlsMark(p)}`, p.enabled ? "yes" : "no", describeImpairment(p.impairment, Date.now(), p.toxics ?? []), String(p.stats.connectionsActive)];
      if (withRates) row.push(rate(p.throughputUp), rate(p.throughputDown));
      body.push(row);
    }
  }
  return renderTable(headers, body);
}

/** " tls(client)", " tls(upstream)", " tls(both)": which sides of a proxy speak TLS. */
function tlsMark(p: ProxyInfo): string {
  const t = p.tls;
  if (t === undefined) return "";
  const side = t.client !== undefined && t.upstream !== undefined ? "both" : t.client !== undefined ? "client" : "upstream";
  return ` tls(${side}${t.upstream === "insecure" ? ", upstream insecure" : ""})`;
}
