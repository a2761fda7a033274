// The client verdicts' part of the HTML report: the expectations, each proxy's figures, the
// attempts of a few failed requests on a timeline and the retry spacing, drawn as inline SVG
// (readable without script).
import type { RunReport } from "./report.js";
import type { ClientStats } from "./clients.js";
import { expectationName, msText, resultText } from "./clients-text.js";

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${({ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "#39" } as Record<string, string>)[c]};`);
}

const W = 640;
const ROW = 26;
const LEFT = 150;

/** Each example request a row; its attempts as dots at their ms after the first (red: failed). */
function attemptsSvg(proxy: string, c: ClientStats): string {
  if (c.examples.length === 0) return "";
  const span = Math.max(1, ...c.examples.flatMap((x) => x.attempts.map((a) => a.atMs)));
  const x = (ms: number): number => LEFT + (ms / span) * (W - LEFT - 20);
  const rows = c.examples.map((ex, i) => {
    const y = 20 + i * ROW;
    const dots = ex.attempts
      .map((a, k) => `<circle cx="${x(a.atMs).toFixed(1)}" cy="${y}" r="5" class="${a.failed ? "attempt-failed" : "attempt-ok"}"><title>${esc(`attempt ${k + 1} at +${msText(a.atMs)}: ${a.outcome}`)}</title></circle>`)
      .join("");
    const label = `${ex.request}`.slice(0, 22);
    return `<text x="4" y="${y + 4}" class="attempt-label">${esc(label)}</text><line x1="${LEFT}" y1="${y}" x2="${W - 20}" y2="${y}" class="attempt-axis"/>${dots}`;
  });
  const h = 30 + c.examples.length * ROW;
  return `<figure><svg class="attempts" data-proxy="${esc(proxy)}" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="${esc(`attempts of failed requests on ${proxy}`)}">${rows.join("")}<text x="${LEFT}" y="${h - 2}" class="attempt-label">0</text><text x="${W - 20}" y="${h - 2}" text-anchor="end" class="attempt-label">${esc(msText(span))}</text></svg><figcaption>Attempts of a few failed requests on ${esc(proxy)} (red: failed, green: answered), ms after the first attempt.</figcaption></figure>`;
}

/** The median wait before the 1st retry, the 2nd, ... as bars. */
function spacingSvg(proxy: string, c: ClientStats): string {
  const s = c.retries.spacingMs;
  if (s.length === 0) return "";
  const top = Math.max(1, ...s);
  const bw = Math.min(60, (W - 40) / s.length - 8);
  const h = 140;
  const bars = s
    .map((v, i) => {
      const bh = (v / top) * (h - 40);
      const x = 20 + i * (bw + 8);
      return `<rect x="${x.toFixed(1)}" y="${(h - 20 - bh).toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" class="spacing-bar"><title>${esc(`retry ${i + 1}: ${msText(v)}`)}</title></rect><text x="${(x + bw / 2).toFixed(1)}" y="${(h - 24 - bh).toFixed(1)}" text-anchor="middle" class="attempt-label">${esc(msText(v))}</text><text x="${(x + bw / 2).toFixed(1)}" y="${h - 6}" text-anchor="middle" class="attempt-label">#${i + 1}</text>`;
    })
    .join("");
  return `<figure><svg class="spacing" data-proxy="${esc(proxy)}" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="${esc(`retry spacing on ${proxy}`)}">${bars}</svg><figcaption>Retry spacing on ${esc(proxy)}: the median wait before the 1st retry, the 2nd, ...</figcaption></figure>`;
}

export const CLIENT_HTML_STYLE = `
svg.attempts .attempt-failed { fill: #d62728; }
svg.attempts .attempt-ok { fill: #2ca02c; }
svg .attempt-axis { stroke: #bbb; stroke-width: 1; }
svg .attempt-label { font: 11px sans-serif; fill: #444; }
svg.spacing .spacing-bar { fill: #1f77b4; }
`;

export function clientsHtml(report: RunReport): string {
  if (!report.expectations || !report.clients) return "";
  const rows = report.expectations
    .map((e) => `<tr class="expectation"><td>${esc(expectationName(e))}</td><td><span class="status ${e.held ? (e.got === null ? "not-reached" : "done") : "failed"}">${resultText(e)}</span></td><td>${esc(e.text)}</td></tr>`)
    .join("");
  const figures = Object.entries(report.clients)
    .map(([proxy, c]) => {
      const t = c.timeouts;
      const b = c.breaker;
      const stats = `<p>${esc(proxy)}: ${c.requests} requests, ${c.failedAttempts} failed attempts, retries per failure p50 ${c.retries.perFailure.p50 ?? "-"} / max ${c.retries.perFailure.max ?? "-"}, amplification ${c.amplification ?? "-"}x; timeouts: ${t.abandoned} abandoned (p50 ${msText(t.p50Ms)}, max ${msText(t.maxMs)}), ${t.neverGaveUp} never gave up; breaker: ${b.opened ? `opened after ${b.afterFailures} failures, paused ${msText(b.pauseMs)}` : "not seen"}.</p>`;
      return `<h3>${esc(proxy)}</h3>${stats}${attemptsSvg(proxy, c)}${spacingSvg(proxy, c)}`;
    })
    .join("");
  return `<section id="client-verdicts"><h2>Client verdicts</h2><table><thead><tr><th>expectation</th><th>result</th><th>what was seen</th></tr></thead><tbody>${rows}</tbody></table>${figures}</section>`;
}
