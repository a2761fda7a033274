// What the request layer reports: the outcomes counted by requests_total and the event of one
// request: an injected fault (which rule, on which connection, which request) or, traced, any.
import type { RequestOutcome } from "./protocol.js";
import type { ProtocolName } from "./rule.js";
import type { RequestEventData } from "../control/protocol.js";

export const REQUEST_OUTCOMES: readonly RequestOutcome[] = ["forwarded", "failed", "delayed", "lost", "reset"];

/**
 * One request the layer reports (the `requests` topic's data): every injected fault (with its
 * rule), and forwarded ones only while someone watches every request (StreamContext.tracing).
 */
export interface RequestEvent extends RequestEventData {
  protocol: ProtocolName;
  outcome: RequestOutcome;
}

export interface RequestsOffEvent {
  conn: string;
  client: string;
  protocol: ProtocolName;
  reason: string;
}
