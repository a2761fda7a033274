// Applying over the control channel, seen on real traffic through the proxy: live effect,
// clear, ttl revert, and session-bound reverts when the controller's connection dies.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startAgent, type RunningAgent } from "../../src/index.js";
import { RawRpc } from "../support/rpc.js";
import { echoServer, dial, roundTrip, sleep, type Peer } from "../support/net.js";
import type { Socket } from "node:net";

let agent: RunningAgent;
let echo: Peer;
let ctl: RawRpc;
let port: number;

before(async () => {
  echo = await echoServer();
  agent = await startAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  ctl = await RawRpc.open(agent.url);
  port = Number(agent.agent.proxyInfo("pg").listen.split(":")[1]);
});
after(async () => {
  await ctl.close();
  await agent.close();
  await echo.close();
});

async function current(): Promise<{ profile: string; spec: { down: { delay: number } } } | null> {
  const list = await ctl.ok<{ name: string; impairment: { profile: string; spec: { down: { delay: number } } } | null }[]>("proxy.list");
  return list.find((p) => p.name === "pg")!.impairment;
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (await cond()) return performance.now() - t0;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function withConn<T>(fn: (s: Socket) => Promise<T>): Promise<T> {
  const s = await dial(port);
  try {
    return await fn(s);
  } finally {
    s.destroy();
  }
}

test("a delay applied reaches a live connection at once; clear drops it", async () => {
  await withConn(async (s) => {
    const clean = await roundTrip(s);
    assert.ok(clean < 100, `clean round trip ${clean.toFixed(1)} ms`);
    const applied = await ctl.ok<{ proxy: string; profile: string; spec: { down: { delay: number } }; expiresAt: null }>("impair.apply", { proxy: "pg", set: { "down.delay": "200ms" } });
    assert.equal(applied.proxy, "pg");
    assert.equal(applied.profile, "clean");
    assert.equal(applied.spec.down.delay, 200);
    assert.equal(applied.expiresAt, null);
    const slow = await roundTrip(s);
    assert.ok(slow >= 190, `impaired round trip ${slow.toFixed(1)} ms`);
    assert.ok(slow < 1500, `impaired round trip ${slow.toFixed(1)} ms`);
    await ctl.ok("impair.clear", { proxy: "pg" });
    const after = await roundTrip(s);
    assert.ok(after < 100, `round trip after clear ${after.toFixed(1)} ms`);
  });
});

test("a ttl reverts to what was there before, on live traffic", async () => {
  await ctl.ok("impair.apply", { proxy: "pg", set: { "down.delay": "100ms" } });
  const burst = await ctl.ok<{ expiresAt: string }>("impair.apply", { proxy: "pg", set: { "down.delay": "300ms" }, ttl: "300ms" });
  const left = Date.parse(burst.expiresAt) - Date.now();
  assert.ok(left > 0 && left <= 300, `expiresAt ${left} ms ahead`);
  await withConn(async (s) => {
    const during = await roundTrip(s);
    assert.ok(during >= 290, `during the ttl ${during.toFixed(1)} ms`);
    await waitFor("the ttl to revert", async () => (await current())?.spec.down.delay === 100);
    const back = await roundTrip(s);
    assert.ok(back >= 95 && back < 290, `after the ttl ${back.toFixed(1)} ms (base 100 ms)`);
  });
  await ctl.ok("impair.clear", { proxy: "pg" });
  // a ttl on a clean proxy returns it to clean
  await ctl.ok("impair.apply", { proxy: "pg", profile: "3g", ttl: "300ms" });
  assert.equal((await current())?.profile, "3g");
  const took = await waitFor("clean again", async () => (await current()) === null);
  assert.ok(took < 2000);
});

test("a later apply wins over an earlier ttl", async () => {
  await ctl.ok("impair.apply", { proxy: "pg", profile: "3g", ttl: "200ms" });
  await ctl.ok("impair.apply", { proxy: "pg", profile: "4g" });
  await sleep(400);
  assert.equal((await current())?.profile, "4g");
  await ctl.ok("impair.clear", { proxy: "pg" });
});

test("bindToSession: a terminated controller's impairments are undone newest first, back to before the session", async () => {
  await ctl.ok("impair.apply", { proxy: "pg", set: { "down.delay": "50ms" } });
  const session = await RawRpc.open(agent.url);
  await session.ok("impair.apply", { proxy: "pg", profile: "3g", bindToSession: true });
  await session.ok("impair.apply", { proxy: "pg", set: { "down.delay": "250ms" }, bindToSession: true });
  assert.equal((await current())?.spec.down.delay, 250);
  await withConn(async (s) => {
    const during = await roundTrip(s);
    assert.ok(during >= 240, `during the session ${during.toFixed(1)} ms`);
    session.terminate(); // no close frame: as if the controller died
    await waitFor("the session revert", async () => (await current())?.spec.down.delay === 50);
    const imp = await current();
    assert.equal(imp?.profile, "clean", "back to the apply made before the session, not to 3g");
    const back = await roundTrip(s);
    assert.ok(back >= 45 && back < 240, `after the session ${back.toFixed(1)} ms (base 50 ms)`);
  });
  await ctl.ok("impair.clear", { proxy: "pg" });
});

test("bindToSession: a graceful close reverts too; unbound applies of that session stay", async () => {
  const session = await RawRpc.open(agent.url);
  await session.ok("impair.apply", { proxy: "pg", profile: "4g" });
  await session.ok("impair.apply", { proxy: "pg", profile: "3g", bindToSession: true });
  await session.close();
  await waitFor("the bound apply to revert", async () => (await current())?.profile === "4g");
  await ctl.ok("impair.clear", { proxy: "pg" });
});

test("another controller's later apply survives the session's end", async () => {
  const session = await RawRpc.open(agent.url);
  await session.ok("impair.apply", { proxy: "pg", profile: "3g", bindToSession: true });
  await ctl.ok("impair.apply", { proxy: "pg", profile: "2g" });
  await session.close();
  await sleep(200);
  assert.equal((await current())?.profile, "2g");
  await ctl.ok("impair.clear", { proxy: "pg" });
});

test("bound applies still in flight when the controller dies are undone too", async () => {
  const session = await RawRpc.open(agent.url);
  // a request that waits on I/O first, then bound applies queued behind it, then the close
  session.send(JSON.stringify({ jsonrpc: "2.0", id: "slow", method: "proxy.create", params: { name: "tmp", listen: "127.0.0.1:0", upstream: echo.address } }));
  for (let i = 0; i < 20; i++) session.send(JSON.stringify({ jsonrpc: "2.0", id: i, method: "impair.apply", params: { proxy: "pg", profile: i % 2 ? "3g" : "4g", bindToSession: true } }));
  session.ws.close(); // the close frame follows the requests at once
  await session.closed;
  await sleep(300);
  assert.ok(agent.agent.has("tmp"), "the requests did arrive");
  assert.equal(await current(), null);
  await ctl.ok("proxy.delete", { name: "tmp" });
});
