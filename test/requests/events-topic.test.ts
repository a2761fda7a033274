// Topic `requests` of events.subscribe: a redis proxy of an agent started by the CLI, a real
// ioredis client, and control clients subscribed with requests: "faults" (the default) and "all".
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Redis, ReplyError } from "ioredis";
import type { CliAgent } from "../support/protocol-agent.js";
import { useRedisProxyRig } from "../support/redis-proxy-rig.js";
import { connect, RpcError, type ControlClient } from "../../src/control/client.js";
import type { EventNotification, RequestEventData } from "../../src/control/protocol.js";

const prefix = `t_reqev_${process.pid}_${randomBytes(3).toString("hex")}:`;

/** The `requests` events a subscription has seen so far. */
function collect(into: RequestEventData[]): (n: EventNotification) => void {
  return (n) => {
    if (n.topic === "requests" && n.proxy === "rd") into.push(n.data as RequestEventData);
  };
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("events topic requests (redis proxy, ioredis, CLI agent)", () => {
  const rig = useRedisProxyRig(prefix, ["--log-level", "info"]);
  let agent: CliAgent;
  let admin: Redis;
  const controls: ControlClient[] = [];
  const client = (): Redis => rig.client();

  async function control(): Promise<ControlClient> {
    const c = await connect(agent.url);
    controls.push(c);
    return c;
  }

  before(() => {
    agent = rig.agent();
    admin = rig.admin();
  });

  after(async () => {
    for (const c of controls) await c.close().catch(() => undefined);
  });

  test("a fault reaches subscribers of topic requests with its rule, connection, client and timing; forwarded ones do not by default", async () => {
    const faults: RequestEventData[] = [];
    const watcher = await control();
    await watcher.subscribe(["requests"], collect(faults));
    await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "SET", key: `${prefix}oom:*` }, fail: { error: "OOM" } }] } });
    const c = client();
    assert.equal(await c.set(`${prefix}plain`, "1"), "OK");
    const before = Date.now();
    const err = await c.set(`${prefix}oom:1`, "x").then(() => null, (e: unknown) => e);
    const afterFault = Date.now();
    assert.ok(err instanceof ReplyError, `expected a ReplyError, got ${String(err)}`);
    assert.equal(await admin.exists(`${prefix}oom:1`), 0, "the failed SET wrote nothing");
    assert.equal(await admin.get(`${prefix}plain`), "1");

    const ev = await until("the fault's event", () => faults.find((e) => e.outcome === "failed"));
    const [conn] = await agent.ctl.connections("rd");
    assert.ok(conn, "the client's connection is listed");
    assert.equal(ev.conn, conn.id);
    assert.equal(ev.client, conn.client);
    assert.equal(ev.client.split(":").pop(), String((c as unknown as { stream: { localPort: number } }).stream.localPort));
    assert.equal(ev.protocol, "redis");
    assert.equal(ev.request, `SET ${prefix}oom:1`);
    assert.match(ev.rule ?? "", /OOM/);
    assert.ok(ev.at >= before - 50 && ev.at <= afterFault + 50, `at ${ev.at} between ${before} and ${afterFault}`);
    // the plain SET and GET were forwarded: not reported under requests: "faults"
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      faults.map((e) => e.outcome),
      ["failed"],
    );
  });

  test('requests: "all" reports forwarded requests too, with the time to the answer; a bad value names the field', async () => {
    await agent.ctl.clear("rd");
    const all: RequestEventData[] = [];
    const watcher = await control();
    await watcher.subscribe(["requests"], collect(all), { requests: "all" });
    const c = client();
    await c.set(`${prefix}seen`, "v");
    assert.equal(await c.get(`${prefix}seen`), "v");
    const get = await until("the GET's event", () => all.find((e) => e.request === `GET ${prefix}seen`));
    assert.equal(get.outcome, "forwarded");
    assert.equal(get.rule, undefined);
    assert.equal(get.protocol, "redis");
    assert.ok(typeof get.ms === "number" && get.ms >= 0 && get.ms < 5000, `ms ${String(get.ms)}`);
    assert.ok(all.some((e) => e.request === `SET ${prefix}seen`));
    assert.equal(await admin.get(`${prefix}seen`), "v");

    // back to faults only: forwarded requests stop coming
    await watcher.call("events.subscribe", { topics: ["requests"], requests: "faults" });
    const seen = all.length;
    await c.get(`${prefix}seen`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(all.length, seen);

    await assert.rejects(
      watcher.call("events.subscribe", { topics: ["requests"], requests: "some" as never }),
      (err: unknown) => err instanceof RpcError && /params\.requests: expected one of faults, all, got "some"/.test(err.message),
    );
  });
});
