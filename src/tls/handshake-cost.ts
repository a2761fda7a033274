// What a client's TLS handshake costs over the link. The agent terminates a client's TLS before
// the link (the link shapes the decrypted stream between the two TLS ends), so the handshake
// itself would cross no impaired wire: a 3G client would finish its handshake in a loopback's
// time. A real handshake crosses the link: its round trips (TLS 1.3: one; TLS 1.2: two, one
// when a session is resumed; a postgres SSLRequest before it: one more) each take the link's
// delay up and down, and its bytes each way take their time at the link's bandwidth. The
// connection charges that time before it reads the client's first request (relay/connection.ts).
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { DirectionSpec, ImpairmentSpec } from "../profiles/types.js";

/** A client-side handshake the agent did, as the link would have carried it. */
export interface TlsHandshake {
  /** when the client's first byte could be read (now() time: the accept) */
  startedAt: number;
  /** round trips between the client and the far end before the client's first request leaves */
  rounds: number;
  /** handshake bytes from the client, and to it */
  fromClient: number;
  toClient: number;
  /** the server spoke first (mysql's greeting, which crossed no link either): one more trip down */
  greeting: boolean;
}

/** The handshake a finished client-side TLS socket went through. `asked`: the protocol asked first (postgres' SSLRequest). */
export function handshakeOf(tls: TLSSocket, raw: Socket, startedAt: number, asked: boolean, greeting = false): TlsHandshake {
  const tls13 = tls.getProtocol() === "TLSv1.3";
  const rounds = (tls13 || tls.isSessionReused() ? 1 : 2) + (asked ? 1 : 0);
  return { startedAt, rounds, fromClient: raw.bytesRead, toClient: raw.bytesWritten, greeting };
}

function serializationMs(bytes: number, d: DirectionSpec | null | undefined): number {
  return d?.bandwidth ? (bytes * 8000) / d.bandwidth : 0;
}

/** How long the handshake takes over the link of `spec` (ms; 0 on a clean link). */
export function handshakeMs(h: TlsHandshake, spec: ImpairmentSpec | null): number {
  if (spec === null) return 0;
  const roundTrip = (spec.up?.delay ?? 0) + (spec.down?.delay ?? 0);
  const greeting = h.greeting ? (spec.down?.delay ?? 0) : 0;
  return h.rounds * roundTrip + greeting + serializationMs(h.fromClient, spec.up) + serializationMs(h.toClient, spec.down);
}
