// While a protocol proxy has no rule it frames requests on their bytes only (no text read, see
// FramedStream's skim path); what it must still follow then is what a rule applied later needs:
// a Redis MULTI begun before the rule (a failed queued command must still abort the EXEC), a
// PostgreSQL statement prepared by name before the rule (a later Bind of it must still match the
// rule's query). Real servers, real drivers, one connection kept across the apply.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Redis, ReplyError } from "ioredis";
import pg from "pg";
import { POSTGRES, REDIS, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

const tag = `t_db14live_${process.pid}_${randomBytes(3).toString("hex")}`;

describe("rules applied to live connections that began with none (CLI agent)", () => {
  let agent: CliAgent;
  let admin: Redis;

  before(async () => {
    await requireService(REDIS);
    await requireService(POSTGRES);
    agent = await startCliAgent([`rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`, `pg=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`]);
    admin = new Redis({ host: REDIS.host, port: REDIS.port });
    admin.on("error", () => {});
  });

  after(async () => {
    const keys = await admin.keys(`${tag}:*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
    await agent?.close();
  });

  test("redis: MULTI sent with no rule, the rule comes, a queued SET fails: EXEC answers EXECABORT and nothing is written", async () => {
    await agent.ctl.clear("rd");
    const c = new Redis({ host: "127.0.0.1", port: agent.port("rd"), maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on("error", () => {});
    try {
      assert.equal(await c.set(`${tag}:warm`, "1"), "OK");
      assert.equal(await c.call("MULTI"), "OK");
      assert.equal(await c.call("SET", `${tag}:a`, "1"), "QUEUED");
      await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "SET", key: `${tag}:b` }, fail: { error: "OOM" } }] } });
      const failed = await c.call("SET", `${tag}:b`, "2").then(() => null, (e: unknown) => e);
      assert.ok(failed instanceof ReplyError, `expected the injected error, got ${String(failed)}`);
      assert.match(String(failed), /OOM/);
      const exec = await c.call("EXEC").then(() => null, (e: unknown) => e);
      assert.ok(exec instanceof ReplyError, `expected EXECABORT, got ${String(exec)}`);
      assert.match(String(exec), /EXECABORT/);
      assert.equal(await admin.exists(`${tag}:a`, `${tag}:b`), 0);
      assert.equal(await c.set(`${tag}:after`, "3"), "OK", "the connection is out of MULTI and usable");
    } finally {
      c.disconnect();
      await agent.ctl.clear("rd");
    }
  });

  test("postgres: a statement prepared by name with no rule matches a rule applied later", async () => {
    await agent.ctl.clear("pg");
    const c = new pg.Client({ host: "127.0.0.1", port: agent.port("pg"), user: "postgres", database: "test" });
    c.on("error", () => {});
    await c.connect();
    try {
      const named = { name: `${tag}_q`, text: `SELECT $1::int + 1 AS n /* ${tag} */` };
      assert.equal((await c.query({ ...named, values: [1] })).rows[0].n, 2);
      await agent.ctl.apply("pg", undefined, { spec: { requests: [{ match: { query: tag }, fail: { code: "55P03" } }] } });
      // pg sends only Bind/Execute/Sync for a statement it prepared before: the query is known by name
      const err = (await c.query({ ...named, values: [2] }).then(() => null, (e: unknown) => e)) as { code?: string } | null;
      assert.equal(err?.code, "55P03");
      await agent.ctl.clear("pg");
      assert.equal((await c.query({ ...named, values: [3] })).rows[0].n, 4);
    } finally {
      await c.end().catch(() => undefined);
      await agent.ctl.clear("pg");
    }
  });
});
