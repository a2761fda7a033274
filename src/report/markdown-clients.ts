// The client verdicts' part of the Markdown summary: each expectation, then each proxy's figures.
import type { RunReport } from "./report.js";
import { expectationName, msText, resultText } from "./clients-text.js";

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function renderClientsMarkdown(report: RunReport): string[] {
  if (!report.expectations || !report.clients) return [];
  const out: string[] = ["", "### Client verdicts", ""];
  const broken = report.expectations.filter((e) => !e.held).length;
  out.push(broken === 0 ? "**Every expectation held.**" : `**${broken} expectation${broken === 1 ? "" : "s"} broken.**`, "");
  out.push("| expectation | result | what was seen |", "|---|---|---|");
  for (const e of report.expectations) out.push(`| ${cell(expectationName(e))} | ${resultText(e)} | ${cell(e.text)} |`);
  out.push("", "| proxy | requests | failed attempts | retries p50 / max | retry spacing | amplification | abandoned (p50, max) | never gave up | breaker |", "|---|---|---|---|---|---|---|---|---|");
  for (const [proxy, c] of Object.entries(report.clients)) {
    const t = c.timeouts;
    const b = c.breaker;
    out.push(
      `| ${cell(proxy)} | ${c.requests} | ${c.failedAttempts} | ${c.retries.perFailure.p50 ?? "-"} / ${c.retries.perFailure.max ?? "-"} | ${c.retries.spacingMs.map(msText).join(", ") || "-"} | ${c.amplification ?? "-"}x | ${t.abandoned} (${msText(t.p50Ms)}, ${msText(t.maxMs)}) | ${t.neverGaveUp} | ${b.opened ? `opened after ${b.afterFailures}, paused ${msText(b.pauseMs)}` : "-"} |`,
    );
  }
  return out;
}
