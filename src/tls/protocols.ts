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

/** Protocols whose way to TLS this agent does not speak yet, with what to do instead (none now). */
const NOT_YET: Partial<Record<ProtocolName, string>> = {};

/** Why `protocol` cannot have TLS on a proxy, or null. */
export function tlsUnsupported(protocol: ProtocolName): string | null {
  return NOT_YET[protocol] ?? null;
}

export function tlsNegotiation(protocol: ProtocolName): TlsNegotiation {
  return NEGOTIATIONS[protocol] ?? FIRST_BYTE;
}
