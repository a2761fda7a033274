// MySQL / MariaDB's way to TLS, on both sides of a proxy. The server speaks first: its greeting
// (Initial Handshake, sequence 0) says in its capability flags whether it offers TLS
// (CLIENT_SSL). A client that wants TLS answers with an SSLRequest (a short handshake response:
// capabilities with CLIENT_SSL, max packet, charset, 23 zero bytes; sequence 1), does the TLS
// handshake, then sends its full handshake response at sequence 2 over TLS.
//
// The agent, once the upstream is connected: reads the server's greeting (with tls.upstream, a
// greeting without CLIENT_SSL is refused: the agent never goes on in plaintext), passes it to
// the client with CLIENT_SSL set when tls.client is set and cleared otherwise (a plaintext client
// side never tries), reads the client's first packet (an SSLRequest: TLS with the agent's
// certificate, then the full response; a full response: the client goes on in plaintext, as on
// a postgres proxy), then with tls.upstream sends its own SSLRequest (the client's capabilities
// plus CLIENT_SSL, sequence 1) and does the TLS handshake. The client's response is put back
// with CLIENT_SSL set as the upstream side speaks TLS (a plaintext server given CLIENT_SSL would
// expect a TLS handshake), and the rest of the connection phase is renumbered (renumber.ts)
// when one side only speaks TLS. A failure on the upstream side is told to the client as an ERR
// packet (1043, 08S01) naming the proxy, the side and the reason.
import type { Socket } from "node:net";
import { readBytes, type ServerFirstResult, type ServerFirstSides } from "../../tls/negotiation.js";
import { acceptTls, connectTls, TlsFailure, type TlsSide } from "../../tls/wrap.js";
import { renumberConnectionPhase } from "./renumber.js";

const CLIENT_SSL = 0x800;
const PROTOCOL_10 = 0x0a;
const ERR = 0xff;
/** an SSLRequest's body: capabilities 4, max packet 4, charset 1, filler 23 (MariaDB: its last 4 are extended capabilities) */
const SSL_REQUEST_LENGTH = 32;
/** ER_HANDSHAKE_ERROR: what the client is told when the agent cannot reach the server over TLS */
const HANDSHAKE_ERROR = 1043;

interface Packet {
  seq: number;
  body: Buffer;
}

async function readPacket(socket: Socket, timeoutMs: number, side: TlsSide): Promise<Packet> {
  const head = await readBytes(socket, 4, timeoutMs, side);
  const length = head.readUIntLE(0, 3);
  const body = length === 0 ? Buffer.alloc(0) : await readBytes(socket, length, timeoutMs, side);
  return { seq: head[3]!, body };
}

function packet(seq: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(body.length, 0, 3);
  head[3] = seq & 0xff;
  return Buffer.concat([head, body]);
}

/** Where the lower capability flags lie in a protocol 10 greeting, or -1. */
function greetingCapsAt(body: Buffer): number {
  if (body[0] !== PROTOCOL_10) return -1;
  const versionEnd = body.indexOf(0, 1);
  // version NUL, connection id 4, auth data part 1 (8), filler 1
  const at = versionEnd + 1 + 4 + 8 + 1;
  return versionEnd < 0 || at + 2 > body.length ? -1 : at;
}

/** An ERR packet from the agent at `seq`: 0xff, errno, '#', SQLSTATE, message. */
function errPacket(seq: number, message: string): Buffer {
  const head = Buffer.alloc(9);
  head[0] = ERR;
  head.writeUInt16LE(HANDSHAKE_ERROR, 1);
  head.write("#08S01", 3, "latin1");
  return packet(seq, Buffer.concat([head, Buffer.from(message, "utf8")]));
}

/** Tells the client why (an ERR packet), waiting at most a moment for it to be written. */
function tell(client: Socket, seq: number, message: string): Promise<void> {
  return new Promise((resolve) => {
    if (client.destroyed || !client.writable) return resolve();
    const timer = setTimeout(resolve, 1000);
    client.write(errPacket(seq, message), () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function mysqlServerFirst(rawClient: Socket, rawUpstream: Socket, sides: ServerFirstSides): Promise<ServerFirstResult> {
  const { timeoutMs, upstreamTls, clientCerts } = sides;
  const greeting = await readPacket(rawUpstream, timeoutMs, "upstream");
  const capsAt = greetingCapsAt(greeting.body);
  if (capsAt < 0) {
    // an ERR instead of a greeting (too many connections, a blocked host) or a protocol this
    // agent does not know: passed as it came, the server closes
    rawClient.write(packet(greeting.seq, greeting.body));
    return { client: rawClient, upstream: rawUpstream, stage: null };
  }
  if (upstreamTls !== null && (greeting.body.readUInt16LE(capsAt) & CLIENT_SSL) === 0) {
    const failure = new TlsFailure("upstream", "refused", "the server does not offer TLS (no CLIENT_SSL in its greeting); the agent does not go on in plaintext");
    await tell(rawClient, 0, `${sides.label}: upstream side TLS failed: ${failure.message}`);
    throw failure;
  }
  const caps = greeting.body.readUInt16LE(capsAt);
  greeting.body.writeUInt16LE(clientCerts !== null ? caps | CLIENT_SSL : caps & ~CLIENT_SSL, capsAt);
  rawClient.write(packet(greeting.seq, greeting.body));

  let client = rawClient;
  let response = await readPacket(rawClient, timeoutMs, "client");
  const asksTls = response.body.length === SSL_REQUEST_LENGTH && (response.body.readUInt32LE(0) & CLIENT_SSL) !== 0;
  if (asksTls) {
    if (clientCerts === null) throw new TlsFailure("client", "unexpected-ssl", "the client asked for TLS though the agent's greeting did not offer it");
    client = await acceptTls(rawClient, clientCerts, [], timeoutMs);
    response = await readPacket(client, timeoutMs, "client");
  }
  if (response.body.length < 4) throw new TlsFailure("client", "bad-response", `the client's handshake response is ${response.body.length} bytes long, too short to hold its capabilities`);

  let upstream = rawUpstream;
  if (upstreamTls !== null) {
    // the response's fixed part as it is: capabilities, max packet, charset, and the filler
    // whose last 4 bytes carry MariaDB's extended capabilities (which the server takes from here)
    const ssl = Buffer.alloc(SSL_REQUEST_LENGTH);
    response.body.copy(ssl, 0, 0, Math.min(SSL_REQUEST_LENGTH, response.body.length));
    ssl.writeUInt32LE((ssl.readUInt32LE(0) | CLIENT_SSL) >>> 0, 0);
    rawUpstream.write(packet(1, ssl));
    try {
      upstream = await connectTls(rawUpstream, sides.host, upstreamTls, [], timeoutMs);
    } catch (err) {
      const reason = err instanceof TlsFailure ? err.message : String(err);
      await tell(client, response.seq + 1, `${sides.label}: upstream side TLS failed: ${reason}`);
      throw err;
    }
  }
  // the response goes on through the request layer (which reads its user and database), with
  // CLIENT_SSL as the upstream side speaks
  const respCaps = response.body.readUInt32LE(0);
  response.body.writeUInt32LE((upstreamTls !== null ? respCaps | CLIENT_SSL : respCaps & ~CLIENT_SSL) >>> 0, 0);
  client.unshift(packet(response.seq, response.body));
  const delta = (upstreamTls !== null ? 1 : 0) - (asksTls ? 1 : 0);
  return { client, upstream, stage: delta !== 0 ? renumberConnectionPhase(delta) : null };
}
