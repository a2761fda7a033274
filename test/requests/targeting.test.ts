// Request rules reach exactly the connections the link does: `clients` (CIDRs) and `percent`,
// decided once per connection (sticky). Redis and PostgreSQL through an agent started by the
// CLI, checked against what the servers hold afterwards.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Redis, ReplyError } from "ioredis";
import pg from "pg";
import { POSTGRES, REDIS, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

const prefix = `t_target_${process.pid}_${randomBytes(3).toString("hex")}:`;
const table = `t_target_${process.pid}_${randomBytes(3).toString("hex")}`;

describe("request rules follow --client and --percent (CLI agent)", () => {
  let agent: CliAgent;
  let admin: Redis;
  let pgAdmin: pg.Client;
  const redisClients: Redis[] = [];
  const pgClients: pg.Client[] = [];

  function redis(): Redis {
    const c = new Redis({ host: "127.0.0.1", port: agent.port("rd"), maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on("error", () => {});
    redisClients.push(c);
    return c;
  }
  async function postgres(): Promise<pg.Client> {
    const c = new pg.Client({ host: "127.0.0.1", port: agent.port("pg"), user: "postgres", database: "test" });
    c.on("error", () => {});
    pgClients.push(c);
    await c.connect();
    return c;
  }
  const SET_FAILS = [{ match: { command: "SET", key: `${prefix}*` }, fail: { error: "OOM" } }];
  const INSERT_FAILS = [{ match: { query: "^\\s*INSERT" }, fail: { code: "40001" } }];

  before(async () => {
    await requireService(REDIS);
    await requireService(POSTGRES);
    agent = await startCliAgent([`rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`, `pg=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`]);
    admin = new Redis({ host: REDIS.host, port: REDIS.port });
    admin.on("error", () => {});
    pgAdmin = new pg.Client({ host: POSTGRES.host, port: POSTGRES.port, user: "postgres", database: "test" });
    await pgAdmin.connect();
    await pgAdmin.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, v text)`);
  });

  after(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    admin.disconnect();
    for (const c of redisClients) c.disconnect();
    for (const c of pgClients) await c.end().catch(() => undefined);
    await pgAdmin.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await pgAdmin.end();
    await agent?.close();
  });

  async function setOutcome(c: Redis, key: string): Promise<"ok" | "OOM"> {
    return c.set(`${prefix}${key}`, "1").then(
      () => "ok" as const,
      (e: unknown) => {
        assert.ok(e instanceof ReplyError, String(e));
        return "OOM" as const;
      },
    );
  }

  test("redis: --client 10.0.0.0/8 and --percent 0 leave a 127.0.0.1 client alone; the key is written", async () => {
    await agent.ctl.apply("rd", undefined, { spec: { requests: SET_FAILS }, clients: ["10.0.0.0/8"] });
    const c = redis();
    assert.equal(await setOutcome(c, "cidr"), "ok");
    assert.equal(await admin.get(`${prefix}cidr`), "1");
    await agent.ctl.apply("rd", undefined, { spec: { requests: SET_FAILS }, percent: 0 });
    assert.equal(await setOutcome(c, "pct0"), "ok", "a live connection untargeted by percent 0");
    assert.equal(await setOutcome(redis(), "pct0new"), "ok", "a new connection untargeted by percent 0");
    assert.equal(await admin.get(`${prefix}pct0`), "1");
    assert.equal(await admin.get(`${prefix}pct0new`), "1");
    // the same rule aimed at loopback does act: nothing written
    await agent.ctl.apply("rd", undefined, { spec: { requests: SET_FAILS }, clients: ["127.0.0.0/8"] });
    assert.equal(await setOutcome(c, "aimed"), "OOM");
    assert.equal(await admin.exists(`${prefix}aimed`), 0);
    const stats = (await agent.proxies()).find((p) => p.name === "rd")!.stats;
    assert.ok((stats.requests?.failed ?? 0) >= 1);
    await agent.ctl.clear("rd");
  });

  test("redis: --percent 50 picks whole connections (sticky), about half of them", async () => {
    await agent.ctl.apply("rd", undefined, { spec: { requests: SET_FAILS }, percent: 50 });
    const n = 40;
    let targeted = 0;
    for (let i = 0; i < n; i++) {
      const c = redis();
      const outcomes: string[] = [];
      for (let j = 0; j < 4; j++) outcomes.push(await setOutcome(c, `p50:${i}:${j}`));
      assert.equal(new Set(outcomes).size, 1, `connection ${i} saw ${outcomes.join(",")}: the decision must hold for the connection`);
      const written = await admin.exists(...[0, 1, 2, 3].map((j) => `${prefix}p50:${i}:${j}`));
      assert.equal(written, outcomes[0] === "ok" ? 4 : 0);
      if (outcomes[0] === "OOM") targeted++;
      c.disconnect();
    }
    // binomial(40, 0.5): mean 20, sd 3.2; +-4.5 sd
    assert.ok(targeted >= 6 && targeted <= 34, `${targeted} of ${n} connections targeted`);
    await agent.ctl.clear("rd");
  });

  async function insertOutcome(c: pg.Client, v: string): Promise<string> {
    return c.query(`INSERT INTO ${table} (v) VALUES ($1)`, [v]).then(
      () => "ok",
      (e: { code?: string }) => e.code ?? "error",
    );
  }
  async function held(v: string): Promise<number> {
    return Number((await pgAdmin.query(`SELECT count(*) AS n FROM ${table} WHERE v = $1`, [v])).rows[0].n);
  }

  test("postgres: --client 10.0.0.0/8 and --percent 0 leave a 127.0.0.1 client alone; the row is committed", async () => {
    await agent.ctl.apply("pg", undefined, { spec: { requests: INSERT_FAILS }, clients: ["10.0.0.0/8"] });
    const c = await postgres();
    assert.equal(await insertOutcome(c, "cidr"), "ok");
    assert.equal(await held("cidr"), 1);
    await agent.ctl.apply("pg", undefined, { spec: { requests: INSERT_FAILS }, percent: 0 });
    assert.equal(await insertOutcome(c, "pct0"), "ok");
    assert.equal(await insertOutcome(await postgres(), "pct0new"), "ok");
    assert.equal(await held("pct0"), 1);
    assert.equal(await held("pct0new"), 1);
    await agent.ctl.apply("pg", undefined, { spec: { requests: INSERT_FAILS }, clients: ["127.0.0.1/32"] });
    assert.equal(await insertOutcome(c, "aimed"), "40001");
    assert.equal(await held("aimed"), 0);
    await agent.ctl.clear("pg");
  });

  test("postgres: --percent 50 picks whole connections (sticky)", async () => {
    await agent.ctl.apply("pg", undefined, { spec: { requests: INSERT_FAILS }, percent: 50 });
    const n = 16;
    let targeted = 0;
    for (let i = 0; i < n; i++) {
      const c = await postgres();
      const outcomes: string[] = [];
      for (let j = 0; j < 3; j++) outcomes.push(await insertOutcome(c, `p50:${i}`));
      assert.equal(new Set(outcomes).size, 1, `connection ${i} saw ${outcomes.join(",")}`);
      assert.equal(await held(`p50:${i}`), outcomes[0] === "ok" ? 3 : 0);
      if (outcomes[0] === "40001") targeted++;
      await c.end();
    }
    // binomial(16, 0.5): P(0 or 16) = 3e-5
    assert.ok(targeted >= 1 && targeted <= 15, `${targeted} of ${n} connections targeted`);
    await agent.ctl.clear("pg");
  });
});
