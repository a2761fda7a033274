// Request faults on a redis proxy, felt by ioredis through an agent started by the CLI, checked
// against what the Redis server on 6379 holds afterwards.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { Redis, ReplyError } from "ioredis";
import { REDIS, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

const prefix = `t_reqdb_${process.pid}_${randomBytes(3).toString("hex")}:`;

describe("redis request faults (ioredis, CLI agent)", () => {
  let agent: CliAgent;
  let admin: Redis;
  const clients: Redis[] = [];

  function client(): Redis {
    const c = new Redis({ host: "127.0.0.1", port: agent.port("rd"), maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on("error", () => {});
    clients.push(c);
    return c;
  }

  async function rules(requests: unknown[]): Promise<void> {
    await agent.ctl.apply("rd", undefined, { spec: { requests } });
  }

  before(async () => {
    await requireService(REDIS);
    agent = await startCliAgent([`rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`], ["--log-level", "info"]);
    admin = new Redis({ host: REDIS.host, port: REDIS.port });
    admin.on("error", () => {});
  });

  after(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    admin.disconnect();
    for (const c of clients) c.disconnect();
    await agent?.close();
  });

  test("the proxy says it carries redis; with no rule everything passes byte for byte", async () => {
    const [p] = await agent.proxies();
    assert.equal(p!.protocol, "redis");
    await agent.ctl.clear("rd");
    const c = client();
    const big = randomBytes(300_000).toString("base64");
    assert.equal(await c.set(`${prefix}big`, big), "OK");
    assert.equal(await c.get(`${prefix}big`), big);
    const pipe = c.pipeline();
    for (let i = 0; i < 500; i++) pipe.incr(`${prefix}n`);
    const res = await pipe.exec();
    assert.deepEqual(res!.map(([, v]) => v), Array.from({ length: 500 }, (_, i) => i + 1));
    // RESP3 through HELLO 3
    const hello = (await c.call("HELLO", "3")) as unknown[];
    assert.ok(Array.isArray(hello) || typeof hello === "object");
    assert.equal(await c.get(`${prefix}big`), big);
  });

  test("fail {error: OOM} on SET of matching keys: ReplyError with Redis's text; nothing written; connection usable", async () => {
    await rules([{ match: { command: ["SET", "HSET"], key: `${prefix}session:*` }, fail: { error: "OOM" } }]);
    const c = client();
    const err = await c.set(`${prefix}session:1`, "x").then(() => null, (e: unknown) => e);
    assert.ok(err instanceof ReplyError, `expected a ReplyError, got ${String(err)}`);
    assert.equal((err as Error).message, "OOM command not allowed when used memory > 'maxmemory'.");
    assert.equal(await admin.exists(`${prefix}session:1`), 0);
    assert.equal(await c.set(`${prefix}other`, "y"), "OK");
    assert.equal(await admin.get(`${prefix}other`), "y");
  });

  test("pipelines: an injected error takes its command's place in the reply order", async () => {
    await rules([{ match: { command: "SET", key: `${prefix}bad*` }, fail: { error: "READONLY" } }]);
    const c = client();
    const res = await c.pipeline().set(`${prefix}p1`, "1").set(`${prefix}bad1`, "2").get(`${prefix}p1`).set(`${prefix}bad2`, "3").incr(`${prefix}pn`).exec();
    assert.equal(res![0]![1], "OK");
    assert.ok(res![1]![0] instanceof ReplyError);
    assert.match(String(res![1]![0]), /READONLY You can't write against a read only replica/);
    assert.equal(res![2]![1], "1");
    assert.ok(res![3]![0] instanceof ReplyError);
    assert.equal(typeof res![4]![1], "number");
    assert.equal(await admin.exists(`${prefix}bad1`, `${prefix}bad2`), 0);
  });

  test("MULTI/EXEC: an error on a queued command makes EXEC fail with EXECABORT and nothing is written", async () => {
    await rules([{ match: { command: "SET", key: `${prefix}tx:bad` }, fail: { error: "OOM" } }]);
    const c = client();
    const err = await c.multi().set(`${prefix}tx:a`, "1").set(`${prefix}tx:bad`, "2").exec().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof Error, "EXEC must fail");
    assert.match(String((err as Error).message), /EXECABORT/);
    assert.equal(await admin.exists(`${prefix}tx:a`, `${prefix}tx:bad`), 0);
    // the connection is out of MULTI and usable
    assert.equal(await c.set(`${prefix}tx:after`, "ok"), "OK");
  });

  test("times and after: the first request passes, the next two fail, the fourth succeeds", async () => {
    await rules([{ match: { command: "INCR", key: `${prefix}ta` }, fail: { error: "LOADING" }, after: 1, times: 2 }]);
    const c = client();
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) outcomes.push(await c.incr(`${prefix}ta`).then(() => "ok", (e: Error) => e.message.split(" ")[0]!));
    assert.deepEqual(outcomes, ["ok", "LOADING", "LOADING", "ok"]);
    assert.equal(await admin.get(`${prefix}ta`), "2");
  });

  test("probability 30% over 400 requests stays within binomial bounds", async () => {
    await rules([{ match: { command: "INCR", key: `${prefix}prob` }, fail: { error: "TRYAGAIN" }, probability: "30%" }]);
    const c = client();
    const pipe = c.pipeline();
    for (let i = 0; i < 400; i++) pipe.incr(`${prefix}prob`);
    const res = await pipe.exec();
    const failed = res!.filter(([e]) => e instanceof ReplyError).length;
    // mean 120, sd ~9.2: +-5 sd
    assert.ok(failed > 74 && failed < 166, `failed ${failed} of 400`);
    assert.equal(Number(await admin.get(`${prefix}prob`)), 400 - failed);
  });

  test("lose: response: the server does the write, the client never hears and is reset", async () => {
    await rules([{ match: { command: "SET", key: `${prefix}lost` }, lose: "response" }]);
    const c = client();
    const err = await c.set(`${prefix}lost`, "done").then(() => null, (e: unknown) => e);
    assert.ok(err instanceof Error, "the client must not get an answer");
    assert.equal(await admin.get(`${prefix}lost`), "done");
  });

  test("delay holds one request; reset drops the connection, nothing forwarded", async () => {
    await rules([
      { match: { command: "GET", key: `${prefix}slow` }, delay: "300ms" },
      { match: { command: "SET", key: `${prefix}rst` }, reset: true },
    ]);
    const c = client();
    const t0 = Date.now();
    await c.get(`${prefix}slow`);
    const ms = Date.now() - t0;
    assert.ok(ms >= 280 && ms < 3000, `delay ${ms} ms`);
    const err = await c.set(`${prefix}rst`, "x").then(() => null, (e: unknown) => e);
    assert.ok(err instanceof Error);
    assert.equal(await admin.exists(`${prefix}rst`), 0);
  });

  test("fault events name the rule; conn.list shows the request faults; requests_total counts outcomes", async () => {
    await rules([{ match: { command: "GET", key: `${prefix}ev` }, fail: { error: "BUSY" } }]);
    const c = client();
    await c.get(`${prefix}ev`).catch(() => undefined);
    const conns = await agent.ctl.connections("rd");
    assert.ok(conns.some((x) => (x.requestFaults ?? []).includes("failed")), JSON.stringify(conns));
    const metrics = await (await fetch(agent.url.replace(/^ws/, "http").replace(/\/control$/, "/metrics"))).text();
    assert.match(metrics, /netimpair_requests_total\{proxy="rd",protocol="redis",outcome="failed"\} [1-9]/);
    assert.match(metrics, /netimpair_request_duration_seconds_count\{proxy="rd",protocol="redis"\} [1-9]/);
    assert.match(agent.stderr(), /request fault injected.*|"rule":"requests\[0\]/);
  });

  test("bad rules are refused naming the field and value", async () => {
    const bad: [unknown, RegExp][] = [
      [{ match: { query: "^SET" }, fail: { error: "OOM" } }, /requests\[0\]\.match\.query.*redis protocol has no match field "query"/],
      [{ match: {}, fail: { error: "NOPE" } }, /requests\[0\]\.fail\.error.*NOPE/],
      [{ match: {}, fail: { error: "OOM" }, delay: "1s" }, /requests\[0\].*one action/],
      [{ match: {}, lose: "request" }, /requests\[0\]\.lose/],
      [{ match: {}, fail: { error: "OOM" }, probability: "150%" }, /requests\[0\]\.probability/],
    ];
    for (const [rule, re] of bad) {
      const err = await rules([rule]).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof Error, `accepted ${JSON.stringify(rule)}`);
      const text = `${err.message} ${JSON.stringify((err as { data?: unknown }).data ?? "")}`;
      assert.match(text, re);
    }
  });

  test("random and truncated bytes never crash the agent or harm another connection (passed through)", async () => {
    await rules([{ match: { command: "GET", key: `${prefix}never` }, fail: { error: "OOM" } }]);
    const good = client();
    await good.set(`${prefix}g`, "0");
    for (let i = 0; i < 20; i++) {
      const s = net.connect(agent.port("rd"), "127.0.0.1");
      s.on("error", () => {});
      await new Promise((r) => s.once("connect", r));
      s.write(i % 2 === 0 ? randomBytes(1 + i * 50) : Buffer.from(`*3\r\n$3\r\nSET\r\n$${i}`));
      s.destroy();
      assert.equal(await good.incr(`${prefix}g`), i + 1);
    }
    assert.equal(agent.child.exitCode, null);
  });
});
