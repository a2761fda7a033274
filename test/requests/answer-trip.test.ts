// An answer the agent makes in the server's place (a rule's `fail`) reaches the client as the
// server's own would: after its request's trip up the link, then the down link. The rule decides
// before the up link, so a failed request used to be answered in half a round trip. Here the up
// direction alone is slow (400 ms, the down one clean): a made answer can only be late by that
// trip. Real clients (ioredis, pg, node http, a DNS query over UDP) through a CLI agent; the
// servers are checked to hold nothing of the failed requests.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import http from "node:http";
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import type { AddressInfo } from "node:net";
import dnsPacket from "dns-packet";
import pg from "pg";
import { Redis } from "ioredis";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";
import { POSTGRES, REDIS, requireService, serviceAddress } from "../support/services.js";

const prefix = `t_trip_${process.pid}_${randomBytes(3).toString("hex")}`;
const UP_MS = 400;
/** a made answer may come this much early (timers fire up to 1 ms early) */
const EARLY_MS = 5;
/** how late a released answer may come on 2 loaded cores */
const SLACK_MS = 2500;

async function timed<T>(p: () => Promise<T>): Promise<{ ms: number; value: T | Error }> {
  const t0 = performance.now();
  const value = await p().catch((e: Error) => e);
  return { ms: performance.now() - t0, value };
}

describe("an answer made in the server's place takes its request's trip up the link (CLI agent)", () => {
  let agent: CliAgent;
  let admin: Redis;
  let web: http.Server;
  const seenPaths: string[] = [];
  const table = `${prefix}_rows`;
  const direct = new pg.Pool({ host: POSTGRES.host, port: POSTGRES.port, user: "postgres", database: "test", max: 1 });

  before(async () => {
    await requireService(REDIS);
    await requireService(POSTGRES);
    web = http.createServer((req, res) => {
      seenPaths.push(req.url ?? "");
      res.end("ok");
    });
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    const webPort = (web.address() as AddressInfo).port;
    agent = await startCliAgent([
      `rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`,
      `pg=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`,
      `api=127.0.0.1:0,127.0.0.1:${webPort},http`,
      // nothing answers on port 9: only the agent's made answers can come back
      `dns=127.0.0.1:0,127.0.0.1:9,dns`,
    ]);
    admin = new Redis({ host: REDIS.host, port: REDIS.port });
    admin.on("error", () => {});
    await direct.query(`CREATE TABLE ${table} (v int)`);
  });

  after(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    admin.disconnect();
    await direct.query(`DROP TABLE IF EXISTS ${table}`);
    await direct.end();
    web.close();
    await agent.close();
  });

  const upOnly = (requests: unknown[], delay = `${UP_MS}ms`) => ({ spec: { up: { delay }, requests } });

  test("redis: OOM after the up trip, in order inside a pipeline; the key is not set", async () => {
    await agent.ctl.apply("rd", undefined, upOnly([{ match: { command: "SET", key: `${prefix}:fail*` }, fail: "OOM command not allowed" }]));
    const c = new Redis({ host: "127.0.0.1", port: agent.port("rd"), maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on("error", () => {});
    try {
      await c.ping(); // the connection's first trip
      const failed = await timed(() => c.set(`${prefix}:fail1`, "x"));
      assert.match(String(failed.value), /OOM/);
      assert.ok(failed.ms >= UP_MS - EARLY_MS, `the OOM came ${failed.ms.toFixed(0)} ms after the SET: the request's trip up is ${UP_MS} ms`);
      const passed = await timed(() => c.set(`${prefix}:ok1`, "1"));
      assert.equal(passed.value, "OK");
      // a pipeline: forwarded, failed, forwarded: the answers in order, the failed one not early
      const res = await c.pipeline().set(`${prefix}:ok2`, "2").set(`${prefix}:fail2`, "x").get(`${prefix}:ok2`).exec();
      assert.deepEqual(res!.map(([e, v]) => (e ? "ERR " + e.message.slice(0, 3) : v)), ["OK", "ERR OOM", "2"]);
      assert.equal(await admin.exists(`${prefix}:fail1`, `${prefix}:fail2`), 0, "the failed SETs never reached the server");
      assert.deepEqual(await admin.mget(`${prefix}:ok1`, `${prefix}:ok2`), ["1", "2"]);
    } finally {
      c.disconnect();
    }
  });

  /** A made answer waiting out a 30 s trip, then `revert`: it comes right after, the connection goes on. */
  async function releasedBy(tag: string, revert: () => Promise<unknown>, ttl?: string): Promise<void> {
    await agent.ctl.clear("rd");
    const c = new Redis({ host: "127.0.0.1", port: agent.port("rd"), maxRetriesPerRequest: 0, retryStrategy: () => null, commandTimeout: 60_000 });
    c.on("error", () => {});
    try {
      await c.ping(); // ready before the slow link comes
      const spec = upOnly([{ match: { command: "SET", key: `${prefix}:held*` }, fail: "OOM command not allowed" }], "30s");
      await agent.ctl.apply("rd", undefined, ttl !== undefined ? { ...spec, ttl } : spec);
      const answer = timed(() => c.set(`${prefix}:held:${tag}`, "x"));
      await new Promise((r) => setTimeout(r, 300));
      const revertedAt = performance.now();
      await revert();
      const got = await answer;
      assert.match(String(got.value), /OOM/);
      const late = performance.now() - revertedAt;
      assert.ok(late < SLACK_MS, `the made answer came ${late.toFixed(0)} ms after the ${tag}`);
      assert.equal(await c.set(`${prefix}:after`, "1"), "OK", "the connection goes on");
      assert.equal(await admin.exists(`${prefix}:held:${tag}`), 0);
      const status = (await agent.proxies()).find((p) => p.name === "rd")!;
      assert.equal(status.impairment, null, "the proxy is clean");
    } finally {
      c.disconnect();
    }
  }

  test("redis: a clear, a panic and a ttl each let a made answer waiting out its trip go at once", async () => {
    await releasedBy("clear", () => agent.ctl.clear("rd"));
    await releasedBy("panic", () => agent.ctl.panic());
    await releasedBy("ttl", async () => {
      const deadline = Date.now() + 10_000;
      while ((await agent.proxies()).find((p) => p.name === "rd")!.impairment !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }, "1s");
  });

  test("postgres: 40001 after the up trip; the row is not there", async () => {
    await agent.ctl.apply("pg", undefined, upOnly([{ match: { query: `^INSERT INTO ${table}` }, fail: { code: "40001" } }]));
    const client = new pg.Client({ host: "127.0.0.1", port: agent.port("pg"), user: "postgres", database: "test" });
    await client.connect();
    try {
      await client.query("SELECT 1");
      const failed = await timed(() => client.query(`INSERT INTO ${table} VALUES (1)`));
      assert.equal((failed.value as { code?: string }).code, "40001", String(failed.value));
      assert.ok(failed.ms >= UP_MS - EARLY_MS, `the 40001 came ${failed.ms.toFixed(0)} ms after the INSERT`);
      assert.equal((await client.query("SELECT 2 AS n")).rows[0].n, 2, "the session goes on");
    } finally {
      await client.end();
    }
    assert.equal((await direct.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, 0);
  });

  test("http: 503 after the up trip; the server never saw the request", async () => {
    await agent.ctl.apply("api", undefined, upOnly([{ match: { path: "/fail*" }, fail: 503 }]));
    const get = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        http.get({ host: "127.0.0.1", port: agent.port("api"), path, agent: false }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        }).on("error", reject);
      });
    const failed = await timed(() => get("/fail/1"));
    assert.equal(failed.value, 503);
    assert.ok(failed.ms >= UP_MS - EARLY_MS, `the 503 came ${failed.ms.toFixed(0)} ms after the request`);
    const passed = await timed(() => get("/ok"));
    assert.equal(passed.value, 200);
    assert.deepEqual(seenPaths, ["/ok"]);
  });

  test("dns over UDP: SERVFAIL after the up trip", async () => {
    await agent.ctl.apply("dns", undefined, upOnly([{ match: { name: "fail.trip.test" }, fail: "SERVFAIL" }]));
    const sock = createSocket("udp4");
    try {
      const query = dnsPacket.encode({ type: "query", id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name: "fail.trip.test" }] });
      const t0 = performance.now();
      sock.send(query, agent.port("dns"), "127.0.0.1");
      const [msg] = (await once(sock, "message")) as [Buffer];
      const ms = performance.now() - t0;
      const reply = dnsPacket.decode(msg);
      assert.equal(reply.id, 4242);
      assert.equal((reply.flags ?? 0) & 0x0f, 2, "rcode SERVFAIL (2)");
      assert.ok(ms >= UP_MS - EARLY_MS, `the SERVFAIL came ${ms.toFixed(0)} ms after the query`);
    } finally {
      sock.close();
    }
  });
});
