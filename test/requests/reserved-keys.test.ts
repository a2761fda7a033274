// `__proto__`, `constructor` and `prototype` as keys of a match map (a rule's match, an http
// header map, grpc metadata) are refused naming the field; they never widen a rule to every
// request. Redis and a node HTTP server through an agent started by the CLI.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { REDIS, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";
import { runCli } from "../support/cli.js";

const prefix = `t_reserved_${process.pid}_${randomBytes(3).toString("hex")}:`;

describe("reserved keys in match maps are refused naming the field", () => {
  let agent: CliAgent;
  let admin: Redis;
  let server: http.Server;
  const seen: string[] = [];

  before(async () => {
    await requireService(REDIS);
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const web = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    agent = await startCliAgent([`rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`, `web=127.0.0.1:0,${web},http`, `rpc=127.0.0.1:0,${web},grpc`]);
    admin = new Redis({ host: REDIS.host, port: REDIS.port });
    admin.on("error", () => {});
  });

  after(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    admin.disconnect();
    await agent?.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function refused(proxy: string, rule: unknown, field: RegExp): Promise<void> {
    // JSON.parse makes "__proto__" an own key, as a control message or YAML file brings it
    const requests = JSON.parse(JSON.stringify([rule]).replace(/"RESERVED"/g, '"__proto__"')) as unknown[];
    const err = await agent.ctl.apply(proxy, undefined, { spec: { requests } }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    assert.ok(err !== null, `the apply on ${proxy} must be refused`);
    assert.match(err.message, field);
    const p = (await agent.proxies()).find((x) => x.name === proxy)!;
    assert.equal(p.impairment, null, "nothing applied");
  }

  test("redis: match {__proto__: {...}} and match {constructor: SET} are refused; SET still writes", async () => {
    await refused("rd", { match: { RESERVED: { command: "SET" } }, fail: { error: "OOM" } }, /requests\[0\]\.match\.__proto__.*cannot be a key/);
    await refused("rd", { match: { constructor: "SET" }, fail: { error: "OOM" } }, /requests\[0\]\.match\.constructor/);
    const c = new Redis({ host: "127.0.0.1", port: agent.port("rd"), maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on("error", () => {});
    assert.equal(await c.set(`${prefix}k`, "1"), "OK");
    assert.equal(await admin.get(`${prefix}k`), "1");
    c.disconnect();
  });

  test("http: header {__proto__: '*'} and header {prototype: '*'} are refused; requests pass", async () => {
    await refused("web", { match: { header: { RESERVED: "*" } }, fail: { status: 403 } }, /requests\[0\]\.match\.header\.__proto__/);
    await refused("web", { match: { header: { prototype: "*" } }, fail: { status: 403 } }, /requests\[0\]\.match\.header\.prototype/);
    // a header rule of a real name still acts, and only on requests that carry it
    await agent.ctl.apply("web", undefined, { spec: { requests: [{ match: { header: { "x-test": "yes" } }, fail: { status: 403 } }] } });
    const base = `http://127.0.0.1:${agent.port("web")}`;
    assert.equal((await fetch(`${base}/plain`)).status, 200);
    assert.equal((await fetch(`${base}/marked`, { headers: { "x-test": "yes" } })).status, 403);
    // a request whose header is named like a prototype key matches nothing it should not
    assert.equal((await fetch(`${base}/ctor`, { headers: { constructor: "x" } })).status, 200);
    assert.ok(seen.includes("GET /plain") && seen.includes("GET /ctor") && !seen.includes("GET /marked"));
    await agent.ctl.clear("web");
  });

  test("grpc: metadata {__proto__: '*'} is refused", async () => {
    await refused("rpc", { match: { metadata: { RESERVED: "*" } }, fail: { status: "UNAVAILABLE" } }, /requests\[0\]\.match\.metadata\.__proto__/);
  });

  test("the CLI's apply --request prints the field and does not apply", async () => {
    const r = await runCli(["apply", "clean", "--agent", agent.url, "--proxy", "rd", "--request", '{match: {"__proto__": {command: SET}}, fail: {error: OOM}}']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /match\.__proto__/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.equal((await agent.proxies()).find((x) => x.name === "rd")!.impairment, null);
  });
});
