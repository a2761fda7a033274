// Whether a driver's pool recovers from request faults: pg.Pool, mysql2's createPool and an
// ioredis client (its own reconnecting connection) through protocol proxies of an agent started
// by the CLI. Each fault (fail, lose: response, reset) is on for a while - a burst of queries
// that all match - then the rule is cleared and the pool must serve the next queries right,
// each answer checked against what was asked. What each driver did is printed as a diagnostic
// (`# ...` lines) and written down in docs/protocols.md ("whether the pool recovers").
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import pg from "pg";
import mysql from "mysql2/promise";
import { Redis } from "ioredis";
import { MARIADB, POSTGRES, REDIS, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

const tag = `db14pool_${process.pid}_${randomBytes(3).toString("hex")}`;
/** queries while the fault is on (all match it), and after it is cleared (none may fail) */
const DURING = 12;
const AFTER = 40;
const POOL_SIZE = 4;
/** the client-side timeouts: a lost answer must not hang a test */
const QUERY_TIMEOUT_MS = 3000;

type Fault = "fail" | "lose" | "reset";
const FAULTS: Fault[] = ["fail", "lose", "reset"];

/** What the queries of the burst ended with: error texts counted by kind. */
function summarize(results: PromiseSettledResult<unknown>[]): { ok: number; errors: Map<string, number> } {
  const errors = new Map<string, number>();
  let ok = 0;
  for (const r of results) {
    if (r.status === "fulfilled") ok++;
    else {
      const e = r.reason as { code?: string; errno?: number; name?: string; message?: string };
      const kind = `${e.name ?? "Error"}${e.code !== undefined ? ` code=${e.code}` : ""}${e.errno !== undefined ? ` errno=${e.errno}` : ""}: ${(e.message ?? String(e)).slice(0, 80)}`;
      errors.set(kind, (errors.get(kind) ?? 0) + 1);
    }
  }
  return { ok, errors };
}

function report(t: TestContext, driver: string, fault: Fault, during: ReturnType<typeof summarize>, extra: string): void {
  const kinds = [...during.errors].map(([k, n]) => `${n} x ${k}`).join("; ");
  t.diagnostic(`${driver} ${fault}: during the fault ${during.ok}/${DURING} ok, ${kinds || "no errors"}; ${extra}`);
}

describe("pools recover once a request fault is cleared (CLI agent)", () => {
  let agent: CliAgent;

  before(async () => {
    await requireService(POSTGRES);
    await requireService(MARIADB);
    await requireService(REDIS);
    agent = await startCliAgent([
      `pg=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`,
      `my=127.0.0.1:0,${serviceAddress(MARIADB)},mysql`,
      `rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`,
    ]);
  });

  after(async () => {
    await agent?.close();
  });

  const pgRule: Record<Fault, unknown> = {
    fail: { match: { query: tag }, fail: { code: "40001" } },
    lose: { match: { query: tag }, lose: "response" },
    reset: { match: { query: tag }, reset: true },
  };

  for (const fault of FAULTS) {
    test(`pg.Pool, ${fault}: the next ${AFTER} queries are answered right`, async (t) => {
      const pool = new pg.Pool({ host: "127.0.0.1", port: agent.port("pg"), user: "postgres", database: "test", max: POOL_SIZE, query_timeout: QUERY_TIMEOUT_MS });
      let connects = 0;
      let poolErrors = 0;
      pool.on("connect", () => connects++);
      pool.on("error", () => poolErrors++); // an idle client's connection error (the pool drops it)
      try {
        const ask = (i: number): Promise<number> => pool.query(`SELECT $1::int AS n, '${tag}' AS tag`, [i]).then((r) => r.rows[0].n as number);
        await Promise.all(Array.from({ length: POOL_SIZE }, (_, i) => ask(i))); // the pool is full and warm
        const before = connects;
        await agent.ctl.apply("pg", undefined, { spec: { requests: [pgRule[fault]] } });
        const during = summarize(await Promise.allSettled(Array.from({ length: DURING }, (_, i) => ask(i))));
        await agent.ctl.clear("pg");
        const answers = await Promise.all(Array.from({ length: AFTER }, (_, i) => ask(1000 + i)));
        assert.deepEqual(answers, Array.from({ length: AFTER }, (_, i) => 1000 + i));
        report(t, "pg.Pool", fault, during, `after the clear ${AFTER}/${AFTER} right; connections dialled again: ${connects - before}; pool 'error' events: ${poolErrors}; pool now ${pool.totalCount} clients`);
        assert.equal(during.ok, 0, "every query of the burst matched the rule");
        if (fault === "fail") {
          assert.deepEqual([...during.errors.keys()].map((k) => /code=40001/.test(k)), [true]);
          // pg-pool's pool.query() releases a client with its query's error, and a client
          // released with an error is destroyed: every failed query costs a connection, as any
          // SQL error does (the connection itself was fine)
          assert.equal(connects - before, DURING, "pool.query() replaces the client of every failed query");
        } else assert.ok(connects - before >= 1, "a lost answer or a reset costs the connection: the pool dials new ones");
      } finally {
        await agent.ctl.clear("pg");
        await pool.end();
      }
    });
  }

  const myRule: Record<Fault, unknown> = {
    fail: { match: { query: tag }, fail: { errno: 1205 } },
    lose: { match: { query: tag }, lose: "response" },
    reset: { match: { query: tag }, reset: true },
  };

  for (const fault of FAULTS) {
    test(`mysql2 createPool, ${fault}: the next ${AFTER} queries are answered right`, async (t) => {
      const pool = mysql.createPool({ host: "127.0.0.1", port: agent.port("my"), user: "root", database: "test", connectionLimit: POOL_SIZE });
      let connections = 0;
      pool.pool.on("connection", () => connections++);
      try {
        const ask = async (i: number): Promise<number> => {
          const [rows] = await pool.query({ sql: `SELECT ? AS n, '${tag}' AS tag`, values: [i], timeout: QUERY_TIMEOUT_MS });
          return Number((rows as { n: number }[])[0]!.n);
        };
        await Promise.all(Array.from({ length: POOL_SIZE }, (_, i) => ask(i)));
        const before = connections;
        await agent.ctl.apply("my", undefined, { spec: { requests: [myRule[fault]] } });
        const during = summarize(await Promise.allSettled(Array.from({ length: DURING }, (_, i) => ask(i))));
        await agent.ctl.clear("my");
        const answers = await Promise.all(Array.from({ length: AFTER }, (_, i) => ask(1000 + i)));
        assert.deepEqual(answers, Array.from({ length: AFTER }, (_, i) => 1000 + i));
        report(t, "mysql2 pool", fault, during, `after the clear ${AFTER}/${AFTER} right; connections dialled again: ${connections - before}`);
        assert.equal(during.ok, 0, "every query of the burst matched the rule");
        if (fault === "fail") {
          assert.deepEqual([...during.errors.keys()].map((k) => /errno=1205/.test(k)), [true]);
          assert.equal(connections - before, 0, "an injected error costs no connection");
        } else assert.ok(connections - before >= 1, "a lost answer or a reset costs the connection: the pool dials new ones");
      } finally {
        await agent.ctl.clear("my");
        await pool.end();
      }
    });
  }

  const rdRule: Record<Fault, unknown> = {
    fail: { match: { command: ["SET", "GET"], key: `${tag}:*` }, fail: { error: "LOADING" } },
    lose: { match: { command: ["SET", "GET"], key: `${tag}:*` }, lose: "response" },
    reset: { match: { command: ["SET", "GET"], key: `${tag}:*` }, reset: true },
  };

  for (const fault of FAULTS) {
    test(`ioredis (its reconnecting connection), ${fault}: the next ${AFTER} commands are answered right`, async (t) => {
      // the options a service sets so a command never waits forever: a retry budget and a timeout
      const c = new Redis({ host: "127.0.0.1", port: agent.port("rd"), maxRetriesPerRequest: 2, commandTimeout: QUERY_TIMEOUT_MS, retryStrategy: (n) => Math.min(n * 20, 200) });
      let reconnects = 0;
      c.on("error", () => {});
      c.on("reconnecting", () => reconnects++);
      const admin = new Redis({ host: REDIS.host, port: REDIS.port });
      admin.on("error", () => {});
      try {
        const key = (i: number): string => `${tag}:${fault}:${i}`;
        const ask = async (i: number): Promise<string | null> => {
          await c.set(key(i), String(i));
          return c.get(key(i));
        };
        assert.equal(await ask(0), "0");
        await agent.ctl.apply("rd", undefined, { spec: { requests: [rdRule[fault]] } });
        const during = summarize(await Promise.allSettled(Array.from({ length: DURING }, (_, i) => ask(i))));
        await agent.ctl.clear("rd");
        const answers: (string | null)[] = [];
        for (let i = 0; i < AFTER; i++) answers.push(await ask(1000 + i));
        assert.deepEqual(answers, Array.from({ length: AFTER }, (_, i) => String(1000 + i)));
        report(t, "ioredis", fault, during, `after the clear ${AFTER}/${AFTER} right; reconnects: ${reconnects}`);
        assert.equal(during.ok, 0, "every command of the burst matched the rule");
        if (fault === "fail") {
          assert.deepEqual([...during.errors.keys()].map((k) => /ReplyError.*LOADING/.test(k)), [true]);
          assert.equal(reconnects, 0, "an injected error costs no connection");
        } else assert.ok(reconnects >= 1, "a lost answer or a reset costs the connection: ioredis reconnects");
      } finally {
        await agent.ctl.clear("rd");
        const keys = await admin.keys(`${tag}:*`);
        if (keys.length > 0) await admin.del(...keys);
        admin.disconnect();
        c.disconnect();
      }
    });
  }
});
