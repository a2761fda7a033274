// One gRPC call as the grpc proxy's rules see it and what they decide for it: the shapes the
// splice (h2-splice.ts) and the proxy's rule glue (grpc.ts) share.
import type { Hold } from "../../requests/holds.js";
import type { AnswerFault } from "../../requests/answer-rule.js";

/** The client's connection preface (RFC 9113 3.4). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** One call (stream) as rules see it. */
export interface H2Call {
  /** :path, e.g. /package.Service/Method */
  path: string;
  /** :method (POST for gRPC) */
  method: string;
  authority: string;
  /** request headers without pseudo-headers (gRPC metadata), lower-case names */
  metadata: Record<string, string>;
  /** content-type application/grpc* */
  grpc: boolean;
}

export type H2Decision =
  | { kind: "forward" }
  /** trip: the answer waits on it (its request's trip up the link), when the up link has a delay */
  | { kind: "fail"; status: number; message: string; trip?: Hold }
  /** hold: the wait (requests/holds.ts), let go early when the rule goes away */
  | { kind: "delay"; ms: number; hold: Hold }
  | { kind: "lose" }
  | { kind: "reset"; scope: "stream" | "connection"; code: number }
  /** forwarded; the response's messages are cut, replaced or slowed (splice-answer.ts) */
  | { kind: "answer"; fault: AnswerFault; outcome: "truncated" | "malformed" | "throttled" }
  /** over a rateLimit's budget: RESOURCE_EXHAUSTED with grpc-retry-pushback-ms */
  | { kind: "limit"; retryAfterMs: number; trip?: Hold };

/** How a call ended, for counters and events. */
export type H2Outcome = "forwarded" | "failed" | "delayed" | "lost" | "reset" | "truncated" | "malformed" | "throttled" | "limited";

/** More about a settled call, known only while watched (the splice host's identifying()). */
export interface H2Settle {
  /** its path and a hash of its request messages */
  identity?: string;
  /** grpc-status other than 0 (or an injected failure): "error" */
  answer?: "ok" | "error";
  /** the client cancelled (RST_STREAM) or left before the answer */
  abandoned?: boolean;
  /** when its answer started or its client left (now() time) */
  at?: number;
}
