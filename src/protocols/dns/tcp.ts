// DNS over TCP (RFC 1035 4.2.2, RFC 7766): each message has a 2-byte length before it. The
// codec frames queries and answers for the request layer's FramedStream; a `fail` or `answer`
// is the agent's own message in the same framing. `truncate` means nothing over TCP: the query
// passes (that is where a client that saw TC on UDP gets its real answer).
import { LengthPrefixedReader, type FrameHeader } from "../shared/length-prefixed.js";
import type { FailEffect, FrameCodec, ScannedRequest } from "../../requests/framed-stream.js";
import type { RequestInfo } from "../../requests/protocol.js";
import { buildReply, parseQuery, type DnsReply } from "./message.js";

const TWO_BYTE_LENGTH: FrameHeader = {
  size: () => 2,
  tag: () => 0,
  bodyLength: (buf, at) => buf.readUInt16BE(at),
};

/** Longest DNS message: the 2-byte length's limit. */
const MAX_MESSAGE = 65535;

export function lengthPrefixed(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(message.length + 2);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

export class DnsTcpCodec implements FrameCodec<DnsReply> {
  private readonly requests = new LengthPrefixedReader(TWO_BYTE_LENGTH, MAX_MESSAGE);
  private readonly responses = new LengthPrefixedReader(TWO_BYTE_LENGTH, 0);

  get opaque(): string | null {
    return this.requests.bad ?? this.responses.bad;
  }

  scanRequests(chunk: Buffer): ScannedRequest[] {
    const out: ScannedRequest[] = [];
    this.requests.feed(
      chunk,
      () => true,
      (_tag, end, body) => {
        const query = body === null ? null : parseQuery(body);
        out.push({ end, info: query?.info ?? null, responses: 1 });
      },
    );
    return out;
  }

  scanResponses(chunk: Buffer): number[] {
    const ends: number[] = [];
    this.responses.feed(chunk, () => false, (_tag, end) => ends.push(end));
    return ends;
  }

  failEffect(fail: DnsReply, _info: RequestInfo, request: Buffer): FailEffect {
    const query = parseQuery(request.subarray(2));
    // a request the rules saw was parsed once already: it parses again
    if (query === null) return { substitute: request };
    if (fail.kind === "truncate") return { substitute: request };
    return { answer: lengthPrefixed(buildReply(query, fail)) };
  }
}
