// What the CLI prints: tables, the --json document, one error line per failed agent, exit codes.

export const ExitCode = {
  Ok: 0,
  /** the command failed on some agent */
  Failed: 1,
  /** bad flags, arguments or input files */
  Usage: 2,
} as const;

/** Bad input from the user: printed as one line, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The result of one command on one agent. */
export type AgentOutcome<R> =
  | { agent: string; url: string; ok: true; result: R }
  | { agent: string; url: string; ok: false; error: string; usage?: true };

export type OkOutcome<R> = Extract<AgentOutcome<R>, { ok: true }>;
export type FailedOutcome = Extract<AgentOutcome<unknown>, { ok: false }>;

/** Pads columns to a plain-text table. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** `URL: cause`, or `NAME (URL): cause` when the agent has an inventory name. */
export function failureLine(o: FailedOutcome): string {
  return o.agent === o.url ? `${o.url}: ${o.error}` : `${o.agent} (${o.url}): ${o.error}`;
}

/**
 * The --json document: for one agent the result itself, and nothing when it failed (the failure
 * is its line on stderr and exit 1), so stdout never holds another shape; for several agents the
 * array of outcomes.
 */
export function jsonDocument<R>(outcomes: AgentOutcome<R>[]): unknown {
  if (outcomes.length === 1) {
    const only = outcomes[0]!;
    return only.ok ? only.result : undefined;
  }
  return outcomes;
}

export interface Printer {
  out(text: string): void;
  err(text: string): void;
}

export const stdio: Printer = {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : text + "\n"),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : text + "\n"),
};

/** 0 when every agent did it; 2 when some agent refused the values given (a usage error), else 1. */
export function exitCodeOf(outcomes: readonly AgentOutcome<unknown>[]): number {
  const failed = outcomes.filter((o): o is FailedOutcome => !o.ok);
  if (failed.length === 0) return ExitCode.Ok;
  return failed.some((f) => f.usage === true) ? ExitCode.Usage : ExitCode.Failed;
}

/**
 * Prints the outcomes (human text from `human`, or the JSON document) and one line per failure
 * on stderr; returns the exit code (exitCodeOf).
 */
export function report<R>(
  outcomes: AgentOutcome<R>[],
  json: boolean,
  human: (ok: OkOutcome<R>[], multi: boolean) => string,
  printer: Printer = stdio,
): number {
  const ok = outcomes.filter((o): o is OkOutcome<R> => o.ok);
  const failed = outcomes.filter((o): o is FailedOutcome => !o.ok);
  if (json) {
    const doc = jsonDocument(outcomes);
    if (doc !== undefined) printer.out(JSON.stringify(doc, null, 2));
  } else if (ok.length > 0) {
    const text = human(ok, outcomes.length > 1);
    if (text !== "") printer.out(text);
  }
  for (const f of failed) printer.err(failureLine(f));
  return exitCodeOf(outcomes);
}

/** Prefixes each line with the agent's name when several agents answered. */
export function perAgentLines<R>(ok: OkOutcome<R>[], multi: boolean, lines: (result: R) => string[]): string {
  const out: string[] = [];
  for (const o of ok) {
    for (const l of lines(o.result)) out.push(multi ? `${o.agent}: ${l}` : l);
  }
  return out.join("\n");
}
