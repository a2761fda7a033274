// Each protocol's way to TLS, by protocol name (tcp, redis and http/grpc: from the first byte).
import type { ProtocolName } from "../requests/rule.js";
import type { TlsNegotiation } from "./negotiation.js";
import { postgresTls } from "../protocols/postgres/tls.js";
import { mysqlServerFirst } from "../protocols/mysql/tls-switch.js";

const FIRST_BYTE: TlsNegotiation = { alpn: [] };

const NEGOTIATIONS: Partial<Record<ProtocolName, TlsNegotiation>> = {
  postgres: postgresTls,
  mysql: { alpn: [], serverFirst: mysqlServerFirst },
  http: { alpn: ["http/1.1"] },
  grpc: { alpn: ["h2"] },
};

/** The sides of a proxy that ask for TLS. */
export interface TlsSides {
  client: boolean;
  upstream: boolean;
}

/** Sides of TLS a protocol cannot have, with why (datagram protocols: TLS needs a stream). */
const REFUSED: Partial<Record<ProtocolName, Partial<Record<keyof TlsSides, string>>>> = {
  udp: {
    client: "a udp proxy carries datagrams and TLS needs a stream (DTLS is not supported)",
    upstream: "a udp proxy carries datagrams and TLS needs a stream (DTLS is not supported)",
  },
  dns: {
    upstream:
      "a dns proxy sends its clients' UDP queries to the upstream as datagrams, so it cannot speak DNS over TLS to it (tls.client works: DNS over TLS on the proxy's TCP side)",
  },
};

/** Why `protocol` cannot have TLS on the given sides (the first refused side and why), or null. */
export function tlsUnsupported(protocol: ProtocolName, sides: TlsSides): { side: keyof TlsSides; why: string } | null {
  const refused = REFUSED[protocol];
  if (refused === undefined) return null;
  for (const side of ["client", "upstream"] as const) {
    const why = refused[side];
    if (sides[side] && why !== undefined) return { side, why };
  }
  return null;
}

export function tlsNegotiation(protocol: ProtocolName): TlsNegotiation {
  return NEGOTIATIONS[protocol] ?? FIRST_BYTE;
}
