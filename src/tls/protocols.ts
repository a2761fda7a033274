// Each protocol's way to TLS, by protocol name (tcp, redis and http/grpc: from the first byte).
import type { ProtocolName } from "../requests/rule.js";
import type { TlsNegotiation } from "./negotiation.js";
import { postgresTls } from "../protocols/postgres/tls.js";

const FIRST_BYTE: TlsNegotiation = { alpn: [] };

const NEGOTIATIONS: Partial<Record<ProtocolName, TlsNegotiation>> = {
  postgres: postgresTls,
  http: { alpn: ["http/1.1"] },
  grpc: { alpn: ["h2"] },
};

export function tlsNegotiation(protocol: ProtocolName): TlsNegotiation {
  return NEGOTIATIONS[protocol] ?? FIRST_BYTE;
}
