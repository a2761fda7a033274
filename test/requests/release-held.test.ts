// Every change that takes a `delay` rule away lets go of what it holds: the held requests go
// upstream at once, in order (panic, ttl expiry, clear, an apply without the rule). Redis through
// an agent started by the CLI, checked against what the server holds afterwards.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import type { CliAgent } from "../support/protocol-agent.js";
import { useRedisProxyRig } from "../support/redis-proxy-rig.js";
import { connect } from "../../src/control/client.js";

const prefix = `t_release_${process.pid}_${randomBytes(3).toString("hex")}:`;

/** A delay far longer than any test: a reply in time can only come from the release. */
const LONG = "60s";
/** How late a released reply may come on 2 loaded cores. */
const SLACK_MS = 2500;

describe("a delay rule's held requests are released by every revert (redis, CLI agent)", () => {
  const rig = useRedisProxyRig(prefix);
  let agent: CliAgent;
  let admin: Redis;
  const client = (): Redis => rig.client({ commandTimeout: 30_000 });
  before(() => {
    agent = rig.agent();
    admin = rig.admin();
  });

  /**
   * Sends SET a, SET b (delayed), SET c in one pipeline, runs `revert` once the rule holds b,
   * and checks the replies came right after the revert, in order, and the server holds all three.
   */
  async function heldThenReverted(tag: string, revert: () => Promise<unknown>, applyOpts: { ttl?: string } = {}, ctl = agent.ctl): Promise<number> {
    const key = (k: string): string => `${prefix}${tag}:${k}`;
    await ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "SET", key: key("b") }, delay: LONG }] }, ...applyOpts });
    const c = client();
    await c.ping();
    const start = performance.now();
    const replies = c.pipeline().set(key("a"), "1").set(key("b"), "2").set(key("c"), "3").get(key("b")).exec();
    // the first SET went; b and what follows are held
    await waitFor(async () => (await admin.get(key("a"))) === "1", 5000);
    assert.equal(await admin.exists(key("b"), key("c")), 0, "b and c are held behind the delay");
    await revert();
    const revertedAt = performance.now();
    const res = await replies;
    const late = performance.now() - revertedAt;
    assert.deepEqual(res!.map(([e, v]) => e ?? v), ["OK", "OK", "OK", "2"], "replies in order");
    assert.ok(late < SLACK_MS, `the held request went ${late.toFixed(0)} ms after the revert`);
    assert.deepEqual(await admin.mget(key("a"), key("b"), key("c")), ["1", "2", "3"]);
    const status = (await agent.proxies()).find((p) => p.name === "rd")!;
    assert.equal(status.impairment, null, "the proxy is clean");
    return performance.now() - start;
  }

  test("panic releases at once", async () => {
    await heldThenReverted("panic", () => agent.ctl.panic());
  });

  test("a ttl expiry releases at once", async () => {
    const took = await heldThenReverted("ttl", () => waitFor(async () => (await agent.proxies()).find((p) => p.name === "rd")!.impairment === null, 10_000), { ttl: "1s" });
    assert.ok(took < 1000 + SLACK_MS + 2000, `the pipeline took ${took.toFixed(0)} ms with a 1 s ttl`);
  });

  test("clear releases at once", async () => {
    await heldThenReverted("clear", () => agent.ctl.clear("rd"));
  });

  test("a closing control session releases at once (its apply was bound to it)", async () => {
    const session = await connect(agent.url, { bindToSession: true });
    await heldThenReverted("session", () => session.close(), {}, session);
  });

  test("an apply without the rule releases at once; an apply keeping it holds on", async () => {
    const key = (k: string): string => `${prefix}reapply:${k}`;
    const rule = { match: { command: "SET", key: key("b") }, delay: LONG };
    await agent.ctl.apply("rd", undefined, { spec: { requests: [rule] } });
    const c = client();
    await c.ping();
    const reply = c.set(key("b"), "x");
    await sleep(300);
    // the same rule again (a ramp's re-apply): still held
    await agent.ctl.apply("rd", undefined, { spec: { requests: [rule] } });
    await sleep(500);
    assert.equal(await admin.exists(key("b")), 0, "still held by the same rule");
    // another rule only: let go
    await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "DEL" }, fail: { error: "ERR" } }] } });
    const t0 = performance.now();
    assert.equal(await reply, "OK");
    assert.ok(performance.now() - t0 < SLACK_MS);
    assert.equal(await admin.get(key("b")), "x");
    await agent.ctl.clear("rd");
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}
