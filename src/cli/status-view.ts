// The status table shared by `status`, `watch` and `proxy ls`: one row per proxy across agents,
// with live throughput computed from two proxy.list samples.
import type { ImpairmentState, ProxyInfo } from "../control/protocol.js";
import { formatBandwidth, formatDuration } from "../units.js";
import { renderTable } from "./output.js";

/** A proxy as `status --json` reports it: proxy.list plus throughput (bytes per second). */
export interface ProxyStatus extends ProxyInfo {
  throughputUp: number | null;
  throughputDown: number | null;
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

export function describeImpairment(imp: ImpairmentState | null, nowMs = Date.now()): string {
  if (imp === null) return "-";
  const extras: string[] = [];
  if (imp.expiresAt) {
    const left = Math.max(0, Date.parse(imp.expiresAt) - nowMs);
    extras.push(`${formatDuration(Math.round(left / 1000) * 1000)} left`);
  }
  if (imp.percent < 100) extras.push(`${imp.percent}%`);
  if (imp.clients.length > 0) extras.push(imp.clients.join(","));
  return extras.length > 0 ? `${imp.profile} (${extras.join(", ")})` : imp.profile;
}

function rate(bytesPerSecond: number | null): string {
  return bytesPerSecond === null ? "-" : formatBandwidth(Math.round(bytesPerSecond * 8));
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
      const row = [a.agent, p.name, `${p.listen} -> ${p.upstream}${p.protocol !== undefined && p.protocol !== "tcp" ? ` [${p.protocol}]` : ""}`, p.enabled ? "yes" : "no", describeImpairment(p.impairment), String(p.stats.connectionsActive)];
      if (withRates) row.push(rate(p.throughputUp), rate(p.throughputDown));
      body.push(row);
    }
  }
  return renderTable(headers, body);
}
