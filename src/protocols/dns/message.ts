// DNS messages, as far as the rules need them: a query's id, name and type (read with the
// `dns-packet` library), and the answers the agent makes in the server's place (an rcode, no
// records, records of its own, or TC set). Anything it cannot read is not a query it can
// decide: it passes as it came.
import dnsPacket from "dns-packet";
import type { Answer, DecodedPacket, Packet, Question } from "dns-packet";
import type { RequestInfo } from "../../requests/protocol.js";

/** The rcodes a `fail` may give, by name. */
export const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeName = Exclude<keyof typeof RCODES, "NOERROR">;
export const FAIL_RCODES: readonly RcodeName[] = ["SERVFAIL", "NXDOMAIN", "REFUSED", "FORMERR", "NOTIMP"];

/** The record types an `answer` may carry (data given as text). */
export const RECORD_TYPES = ["A", "AAAA", "CNAME", "TXT", "PTR", "NS", "MX"] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

export interface DnsRecord {
  type: RecordType;
  data: string;
  /** seconds */
  ttl: number;
}

/** What the agent answers in the server's place. */
export type DnsReply =
  | { kind: "rcode"; rcode: RcodeName }
  | { kind: "empty" }
  | { kind: "records"; records: DnsRecord[] }
  /** over UDP: TC set, no records; over TCP the query passes */
  | { kind: "truncate" };

export interface DnsQuery {
  id: number;
  /** the first question's name, lower case, without the trailing dot */
  name: string;
  /** the first question's type (A, AAAA, ...) */
  type: string;
  info: RequestInfo;
  packet: DecodedPacket;
}

const HEADER_BYTES = 12;

/** Reads a query; null when the message is no query or cannot be read (it then passes untouched). */
export function parseQuery(buf: Buffer): DnsQuery | null {
  if (buf.length < HEADER_BYTES || (buf[2]! & 0x80) !== 0) return null;
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(buf);
  } catch {
    return null;
  }
  const q: Question | undefined = packet.questions?.[0];
  if (q === undefined) return null;
  const name = q.name.replace(/\.$/, "").toLowerCase();
  const type = String(q.type);
  return { id: packet.id ?? 0, name, type, packet, info: { fields: { name, type }, label: `${type} ${name}` } };
}

/** The id of a message (query or response); -1 when it is too short to have one. */
export function messageId(buf: Buffer): number {
  return buf.length >= 2 ? buf.readUInt16BE(0) : -1;
}

function recordData(r: DnsRecord): string | { preference: number; exchange: string } {
  if (r.type === "MX") {
    const [pref, exchange] = r.data.trim().split(/\s+/, 2);
    return { preference: Number(pref), exchange: exchange ?? "" };
  }
  return r.data;
}

/** The answer to `query` the agent gives in the server's place; `udp` says which transport it goes back on. */
export function buildReply(query: DnsQuery, reply: DnsReply): Buffer {
  const req = query.packet;
  const rd = (req.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const opcodeBits = (req.flags ?? 0) & 0x7800;
  let flags = opcodeBits | rd | dnsPacket.RECURSION_AVAILABLE;
  const answers: Answer[] = [];
  if (reply.kind === "rcode") flags |= RCODES[reply.rcode];
  else if (reply.kind === "truncate") flags |= dnsPacket.TRUNCATED_RESPONSE;
  else if (reply.kind === "records") {
    const q = req.questions![0]!;
    for (const r of reply.records) {
      // records of the asked type (and CNAMEs, which fit any); others would only confuse the client
      if (r.type !== q.type && r.type !== "CNAME" && String(q.type) !== "ANY") continue;
      answers.push({ type: r.type, name: q.name, ttl: r.ttl, class: "IN", data: recordData(r) } as Answer);
    }
  }
  const additionals: Answer[] = [];
  // a query with EDNS gets an OPT back, as a server that speaks EDNS would answer
  if (req.additionals?.some((a) => a.type === "OPT")) {
    additionals.push({ type: "OPT", name: ".", udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as Answer);
  }
  const packet: Packet = {
    id: req.id ?? 0,
    type: "response",
    flags,
    questions: req.questions ?? [],
    answers,
    additionals,
  };
  return dnsPacket.encode(packet);
}
