// The protocol modules the agent knows, by protocol name. A protocol listed in PROTOCOLS but
// without a module here is refused on a proxy with a clear error.
import type { ProtocolName } from "./rule.js";
import type { ProtocolModule } from "./protocol.js";
import { redisProtocol } from "../protocols/redis/redis.js";
import { postgresProtocol } from "../protocols/postgres/postgres.js";
import { mysqlProtocol } from "../protocols/mysql/mysql.js";
import { httpProtocol } from "../protocols/http1/http.js";
import { grpcProtocol } from "../protocols/http2/grpc.js";
import { dnsProtocol } from "../protocols/dns/module.js";

type AnyModule = ProtocolModule<unknown>;

const MODULES = new Map<ProtocolName, AnyModule>([
  ["redis", redisProtocol as unknown as AnyModule],
  ["postgres", postgresProtocol as unknown as AnyModule],
  ["mysql", mysqlProtocol as unknown as AnyModule],
  ["http", httpProtocol as unknown as AnyModule],
  ["grpc", grpcProtocol as unknown as AnyModule],
  ["dns", dnsProtocol as unknown as AnyModule],
]);

/** The module of a protocol; null for tcp and udp (bytes or datagrams only); undefined when this build has none for it. */
export function protocolModule(name: ProtocolName): AnyModule | null | undefined {
  if (name === "tcp" || name === "udp") return null;
  return MODULES.get(name);
}
