// What the request layer reports: the outcomes counted by requests_total and the event of one
// injected request fault (which rule, on which connection, which request).
import type { RequestOutcome } from "./protocol.js";
import type { ProtocolName } from "./rule.js";

export const REQUEST_OUTCOMES: readonly RequestOutcome[] = ["forwarded", "failed", "delayed", "lost", "reset", "truncated", "malformed", "throttled", "limited"];

export interface RequestEvent {
  conn: string;
  client: string;
  protocol: ProtocolName;
  outcome: Exclude<RequestOutcome, "forwarded">;
  /** the rule that fired, as describeRule gives it */
  rule: string;
  /** the request, short: "COMMIT", "SET session:1" */
  request: string;
}

export interface RequestsOffEvent {
  conn: string;
  client: string;
  protocol: ProtocolName;
  reason: string;
}
