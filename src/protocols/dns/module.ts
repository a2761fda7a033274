// The dns protocol: match fields `name` (a glob, case-insensitive, no trailing dot) and `type`
// (A, AAAA, ... or a list); actions fail (an rcode), answer (empty or records), truncate,
// delay and lose. The TCP side runs through FramedStream with DnsTcpCodec; the UDP side
// (relay/udp) asks the same engine per datagram through dnsDatagrams (datagrams.ts).
import { FramedStream } from "../../requests/framed-stream.js";
import type { ProtocolModule, StreamContext } from "../../requests/protocol.js";
import { compileDnsAnswer, compileDnsFail } from "./actions.js";
import type { DnsReply } from "./message.js";
import { DnsTcpCodec } from "./tcp.js";

export const dnsProtocol: ProtocolModule<DnsReply> = {
  name: "dns",
  matchFields: { name: "iglob", type: "names" },
  actions: ["fail", "delay", "lose", "answer", "truncate"],
  truncateBy: ["tc"],
  compileFail: compileDnsFail,
  compileAnswer: compileDnsAnswer,
  open(ctx: StreamContext<DnsReply>) {
    // over TCP a truncate rule lets the query pass: that is where the client gets its answer
    const tcp: StreamContext<DnsReply> = {
      ...ctx,
      decide: (info) => {
        const d = ctx.decide(info);
        return d.action === "fail" && d.fail.kind === "truncate" ? { action: "forward" } : d;
      },
    };
    return new FramedStream(new DnsTcpCodec(), tcp);
  },
};
