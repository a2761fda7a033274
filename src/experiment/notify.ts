// The verdict to a chat webhook: a POST of {"text": "..."}, the shape of Slack's incoming webhooks
// (which Mattermost and Teams connectors also take). A webhook that fails is reported in the
// result and changes nothing else.
import type { RunReport } from "../report/report.js";
import { breachText, ms, pct } from "../report/format.js";
import type { NotifyDef } from "./types.js";
import type { NotifyResult, ProbeStats, Verdict } from "../report/figures.js";
import { verdictOf } from "../report/report.js";

export const NOTIFY_TIMEOUT_MS = 5000;

/** The message: verdict, why, and each probe's worst figures. */
export function notifyText(report: RunReport): string {
  const verdict = verdictOf(report);
  const lines: string[] = [];
  const head = { passed: "PASSED", failed: "FAILED", aborted: "ABORTED" }[verdict];
  lines.push(`netimpair run ${report.scenario}: ${head} (exit ${report.exitCode}, ${ms(report.durationMs)})`);
  if (report.aborted) lines.push(`aborted at ${ms(report.aborted.atMs)}: ${report.aborted.reason}`);
  else if (report.stopped) lines.push(`stopped: ${report.stopped}`);
  const breaches = report.slo?.breaches ?? [];
  if (breaches.length > 0) {
    lines.push(`slo broken: ${breaches.slice(0, 5).map((b) => breachText(b)).join("; ")}${breaches.length > 5 ? `; and ${breaches.length - 5} more` : ""}`);
  }
  const totals = report.totals.probes ?? {};
  for (const [name, t] of Object.entries(totals)) {
    let worst: { step: string; stats: ProbeStats } | null = null;
    for (const s of report.steps) {
      const st = s.probes?.[name];
      if (!st || st.availability === null) continue;
      if (!worst || st.availability < worst.stats.availability!) worst = { step: `step ${s.index + 1} ${s.name}`, stats: st };
    }
    const recoveries = report.steps.map((s) => s.probes?.[name]?.recoveryMs).filter((r): r is number => typeof r === "number");
    const parts = [`${name}: availability ${pct(t.availability)}`];
    if (worst) parts.push(`worst ${pct(worst.stats.availability)} in ${worst.step}`);
    parts.push(`p95 ${ms(t.p95Ms)}`, `p99 ${ms(t.p99Ms)}`, `max ${ms(t.maxMs)}`);
    if (recoveries.length > 0) parts.push(`slowest recovery ${ms(Math.max(...recoveries))}`);
    lines.push(parts.join(", "));
  }
  return lines.join("\n");
}

/** POSTs the verdict when `notify.on` lists it; null when it does not. Never throws. */
export async function notifyRun(report: RunReport, notify: NotifyDef, timeoutMs = NOTIFY_TIMEOUT_MS): Promise<NotifyResult | null> {
  const verdict: Verdict = verdictOf(report);
  if (!notify.on.includes(verdict)) return null;
  try {
    const res = await fetch(notify.webhook, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: notifyText(report) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    return { webhook: notify.webhook, verdict, status: res.status, ok: res.ok, error: res.ok ? null : `the webhook answered ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: NodeJS.ErrnoException };
    const why = e.name === "TimeoutError" ? `no answer within ${ms(timeoutMs)}` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { webhook: notify.webhook, verdict, status: null, ok: false, error: `cannot POST: ${why}` };
  }
}
