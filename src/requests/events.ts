// What the request layer reports: the outcomes counted by requests_total and the event of one
// request: an injected fault (which rule, on which connection, which request) or, traced, any.
import type { RequestOutcome } from "./protocol.js";
import type { ProtocolName } from "./rule.js";

export const REQUEST_OUTCOMES: readonly RequestOutcome[] = ["forwarded", "failed", "delayed", "lost", "reset", "truncated", "malformed", "throttled", "limited"];

/**
 * One request the layer reports (the `requests` topic's data): every injected fault (with its
 * rule), and forwarded ones only while someone watches every request (StreamContext.tracing).
 * The control channel sends it as RequestEventData (control/protocol.ts; agent/events.ts holds
 * them to the same shape).
 */
export interface RequestEvent {
  conn: string;
  client: string;
  protocol: ProtocolName;
  /** the request, short: "COMMIT", "SET session:1", "GET /x" */
  request: string;
  outcome: RequestOutcome;
  /** the rule that acted, as describeRule gives it; absent when none acted */
  rule?: string;
  /** epoch ms when the request arrived at the agent */
  at: number;
  /** ms from the request's arrival to its answer's start, when known (abandoned: to when the client gave up) */
  ms?: number;
  /** while watched: a short hash of what makes a retry the same request (requests/identity.ts) */
  identity?: string;
  /** while watched: the answer's class ("error": http 5xx/429, grpc non-OK, an SQL error, a redis error reply) */
  answer?: "ok" | "error";
  /** while watched: the client went away before the answer */
  abandoned?: boolean;
}

export interface RequestsOffEvent {
  conn: string;
  client: string;
  protocol: ProtocolName;
  reason: string;
}
