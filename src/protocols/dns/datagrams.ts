// DNS over UDP: each datagram from the client is one query, decided by the proxy's rules as a
// TCP request is. A query no rule takes (and anything that is not a query) goes to the server
// byte for byte, and the server's answer comes back byte for byte. `lose: response` sends the
// query on and drops the answer with its id; `delay` holds the query; `fail`, `answer` and
// `truncate` answer in the server's place, after the query's trip up the link, through the
// flow's down link.
import type { Decision, RequestInfo, RequestOutcome } from "../../requests/protocol.js";
import type { DatagramHandler, DatagramPath } from "../../requests/datagram.js";
import { buildReply, messageId, parseQuery, type DnsReply } from "./message.js";

/** What a flow's dns layer asks the proxy: its current rules, and where events go. */
export interface DatagramRules {
  hasRules(): boolean;
  decide(info: RequestInfo): Decision<DnsReply>;
  injected(outcome: Exclude<RequestOutcome, "forwarded">, rule: string, request: string): void;
}

/** Answers to swallow (lose: response) are forgotten after this long. */
const LOSE_WINDOW_MS = 30_000;
/** At most this many ids are remembered per flow (the oldest go first). */
const MAX_LOST_IDS = 1024;

export function dnsDatagrams(flow: DatagramPath, rules: DatagramRules, now: () => number): DatagramHandler {
  /** query id -> when its answer started being swallowed */
  const lost = new Map<number, number>();
  return {
    fromClient(buf) {
      if (!rules.hasRules()) return flow.toUpstream(buf);
      const query = parseQuery(buf);
      if (query === null) return flow.toUpstream(buf);
      const d = rules.decide(query.info);
      switch (d.action) {
        case "forward":
          return flow.toUpstream(buf);
        case "fail":
          rules.injected("failed", d.rule, query.info.label);
          return flow.answerClient(buildReply(query, d.fail), buf.length);
        case "delay":
          rules.injected("delayed", d.rule, query.info.label);
          return flow.later(d.ms, () => flow.toUpstream(buf));
        case "lose": {
          rules.injected("lost", d.rule, query.info.label);
          if (lost.size >= MAX_LOST_IDS) lost.delete(lost.keys().next().value as number);
          lost.set(query.id, now());
          return flow.toUpstream(buf);
        }
        case "reset":
          // never compiled for dns (its actions exclude reset): forward
          return flow.toUpstream(buf);
      }
    },
    fromUpstream(buf) {
      if (lost.size > 0) {
        const id = messageId(buf);
        const since = lost.get(id);
        if (since !== undefined) {
          lost.delete(id);
          if (now() - since <= LOSE_WINDOW_MS) return flow.dropped("down", "lose");
        }
      }
      flow.toClient(buf);
    },
    close() {
      lost.clear();
    },
  };
}
