// Verdicts on the client (SPEC "Verdicts on the client"): what a scenario's `expect:` asks of the
// service behind each proxy. The figures and verdicts it leads to are the report's (report/clients.ts).
import type { ExpectationKind } from "../report/clients.js";

export type { ClientStats, ExpectationKind, ExpectationResult, FailedRequestExample } from "../report/clients.js";

/** One `expect:` entry: the limits a proxy's clients must keep (each optional, at least one). */
export interface ClientExpectation {
  proxy: string;
  /** a failed request is retried at most `max` times */
  retries?: { max: number };
  /** the 1st retry waits >= first ms, each next >= growth x the one before (medians) */
  backoff?: { first: number; growth: number };
  /** with a delay or lose rule in force, the client gives up within max ms */
  timeout?: { max: number };
  /** after at most opensAfter failures in a row, no request for >= pause ms */
  circuitBreaker?: { opensAfter: number; pause: number };
}

export const EXPECTATION_KINDS: readonly ExpectationKind[] = ["retries", "backoff", "timeout", "circuitBreaker"];

