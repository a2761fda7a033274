// A describe's redis protocol proxy on a CLI agent (proxy "rd" in front of the real Redis), a
// direct admin connection to check what the server holds, clients through the proxy, and the
// teardown: the prefix's keys deleted, every client and the agent closed.
import { after, before } from "node:test";
import { Redis, type RedisOptions } from "ioredis";
import { REDIS, requireService, serviceAddress } from "./services.js";
import { startCliAgent, type CliAgent } from "./protocol-agent.js";

export interface RedisProxyRig {
  agent(): CliAgent;
  /** straight to Redis, not through the agent */
  admin(): Redis;
  /** a client through the proxy that does not retry or reconnect (closed in teardown) */
  client(options?: RedisOptions): Redis;
}

/** Registers before/after hooks in the calling describe; `prefix` names the keys the tests write. */
export function useRedisProxyRig(prefix: string, agentFlags: string[] = []): RedisProxyRig {
  let agent: CliAgent | undefined;
  let admin: Redis | undefined;
  const clients: Redis[] = [];
  before(async () => {
    await requireService(REDIS);
    agent = await startCliAgent([`rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`], agentFlags);
    admin = new Redis({ host: REDIS.host, port: REDIS.port });
    admin.on("error", () => {});
  });
  after(async () => {
    if (admin) {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length) await admin.del(...keys);
      admin.disconnect();
    }
    for (const c of clients) c.disconnect();
    await agent?.close();
  });
  return {
    agent: () => agent!,
    admin: () => admin!,
    client: (options = {}) => {
      const c = new Redis({ host: "127.0.0.1", port: agent!.port("rd"), maxRetriesPerRequest: 0, retryStrategy: () => null, ...options });
      c.on("error", () => {});
      clients.push(c);
      return c;
    },
  };
}
