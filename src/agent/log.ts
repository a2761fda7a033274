// The agent's pino JSON logs: one line per connection close, per control request and per
// impairment change. Tokens never reach a log line (authorization headers are redacted).
import { pino, type Logger, type DestinationStream } from "pino";
import type { ImpairmentState, ToxicInfo } from "../control/protocol.js";

export type { Logger };

export const REDACT_PATHS = [
  "token",
  "authorization",
  "headers.authorization",
  "req.headers.authorization",
  "request.headers.authorization",
  "*.token",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { app: "netimpair" }, redact: { paths: REDACT_PATHS, censor: "[redacted]" } };
  return destination ? pino(options, destination) : pino(options);
}

export interface ConnCloseLog {
  proxy: string;
  conn: string;
  client: string;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  faults: string[];
  error: string | null;
}

export function logConnClose(log: Logger, c: ConnCloseLog): void {
  log.info({ event: "connection.close", ...c }, "connection closed");
}

export function logControlRequest(log: Logger, r: { method: string; outcome: string; peer: string; durationMs: number; error?: string }): void {
  const level = r.outcome === "ok" ? "info" : "warn";
  log[level]({ event: "control.request", ...r }, "control request");
}

export function logImpairmentChange(
  log: Logger,
  c: { proxy: string; who: string; cause: string; state: ImpairmentState | null; ttlMs?: number | null; bound?: boolean },
): void {
  log.info(
    {
      event: "impairment.change",
      proxy: c.proxy,
      who: c.who,
      cause: c.cause,
      profile: c.state?.profile ?? null,
      percent: c.state?.percent,
      clients: c.state?.clients,
      expiresAt: c.state?.expiresAt ?? null,
      ttlMs: c.ttlMs ?? null,
      bound: c.bound ?? false,
    },
    c.state ? `impairment ${c.state.profile} on ${c.proxy}` : `${c.proxy} clean`,
  );
}

/**
 * A Toxiproxy toxic added, updated or removed (or every toxic of a proxy removed by /reset,
 * clear or panic): an impairment.change line like any other, with the toxic and who acted.
 */
export function logToxicChange(
  log: Logger,
  c: { proxy: string; who: string; cause: string; toxic: ToxicInfo | null; toxics: ToxicInfo[]; removed?: ToxicInfo[] },
): void {
  const names = c.toxics.map((t) => t.name);
  const message =
    c.toxic !== null
      ? `toxic ${c.toxic.name} (${c.toxic.type} ${c.toxic.stream}) ${c.cause === "toxic.remove" ? "removed from" : c.cause === "toxic.add" ? "added to" : "updated on"} ${c.proxy}`
      : `toxics ${(c.removed ?? []).map((t) => t.name).join(", ") || "(none)"} removed from ${c.proxy}`;
  log.info(
    {
      event: "impairment.change",
      proxy: c.proxy,
      who: c.who,
      cause: c.cause,
      toxic: c.toxic,
      ...(c.removed ? { removed: c.removed } : {}),
      toxics: names,
    },
    message,
  );
}
