// The JSON-RPC control channel end to end: a real agent, a raw WebSocket, every method and
// every error code on the wire.
import { test, after, before } from "node:test";
import net from "node:net";
import assert from "node:assert/strict";
import { startAgent, type RunningAgent } from "../../src/index.js";
import { RawRpc, type RpcReply } from "../support/rpc.js";
import { echoServer, startServer, dial, readBytes, sleep, type Peer } from "../support/net.js";

let agent: RunningAgent;
let echo: Peer;
let rpc: RawRpc;

before(async () => {
  echo = await echoServer();
  agent = await startAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }], labels: { env: "test" } });
  rpc = await RawRpc.open(agent.url);
});
after(async () => {
  await rpc.close();
  await agent.close();
  await echo.close();
});

function errorOf(reply: unknown): { code: number; message: string; data?: unknown } {
  const r = reply as RpcReply;
  assert.ok(r.error, `expected an error, got ${JSON.stringify(r)}`);
  return r.error;
}

test("agent.info tells id, version, uptime, labels and proxies", async () => {
  const info = await rpc.ok<{ id: string; version: string; uptimeSeconds: number; labels: Record<string, string>; proxies: { name: string }[] }>("agent.info");
  assert.equal(typeof info.id, "string");
  assert.match(info.version, /^\d+\.\d+\.\d+/);
  assert.ok(info.uptimeSeconds >= 0);
  assert.deepEqual(info.labels, { env: "test" });
  assert.deepEqual(info.proxies.map((p) => p.name), ["pg"]);
});

test("proxy.create picks a port, relays, and proxy.update/delete work", async () => {
  const created = await rpc.ok<{ name: string; listen: string; upstream: string; enabled: boolean; impairment: unknown }>("proxy.create", {
    name: "cache",
    listen: "127.0.0.1:0",
    upstream: echo.address,
  });
  assert.equal(created.name, "cache");
  assert.match(created.listen, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(created.listen, "127.0.0.1:0");
  assert.equal(created.enabled, true);
  assert.equal(created.impairment, null);
  const port = Number(created.listen.split(":")[1]);
  const s = await dial(port);
  const got = readBytes(s, 5);
  s.write("hello");
  assert.equal(String(await got), "hello");
  s.destroy();

  const list = await rpc.ok<{ name: string }[]>("proxy.list");
  assert.deepEqual(list.map((p) => p.name).sort(), ["cache", "pg"]);

  const disabled = await rpc.ok<{ enabled: boolean }>("proxy.update", { name: "cache", enabled: false });
  assert.equal(disabled.enabled, false);
  await assert.rejects(dial(port), (err: NodeJS.ErrnoException) => err.code === "ECONNREFUSED");
  const other = await startServer((sock) => sock.end("other"));
  const moved = await rpc.ok<{ upstream: string; enabled: boolean }>("proxy.update", { name: "cache", upstream: other.address, enabled: true });
  assert.equal(moved.upstream, other.address);
  assert.equal(moved.enabled, true);
  const s2 = await dial(port);
  assert.equal(String(await readBytes(s2, 5)), "other");
  s2.destroy();
  await other.close();

  assert.deepEqual(await rpc.ok("proxy.delete", { name: "cache" }), { deleted: true });
  await assert.rejects(dial(port), (err: NodeJS.ErrnoException) => err.code === "ECONNREFUSED");
  assert.equal(errorOf(await rpc.call("proxy.delete", { name: "cache" })).code, -32004);
});

test("conflict: a taken name and a port in use are -32009", async () => {
  const dup = errorOf(await rpc.call("proxy.create", { name: "pg", listen: "127.0.0.1:0", upstream: echo.address }));
  assert.equal(dup.code, -32009);
  assert.match(dup.message, /pg/);
  const pg = (await rpc.ok<{ listen: string }[]>("proxy.list"))[0]!;
  const busy = errorOf(await rpc.call("proxy.create", { name: "clash", listen: pg.listen, upstream: echo.address }));
  assert.equal(busy.code, -32009);
  assert.match(busy.message, /in use/);
  // the failed create left nothing behind
  assert.deepEqual((await rpc.ok<{ name: string }[]>("proxy.list")).map((p) => p.name), ["pg"]);
});

test("invalid params list one error per bad field, with paths", async () => {
  const e = errorOf(await rpc.call("proxy.create", { name: "bad name!", listen: "nowhere", upstream: 5, extra: 1 }));
  assert.equal(e.code, -32602);
  const paths = (e.data as { path: string; message: string }[]).map((d) => d.path).sort();
  assert.deepEqual(paths, ["params.extra", "params.listen", "params.name", "params.upstream"]);
  const apply = errorOf(
    await rpc.call("impair.apply", { proxy: "pg", set: { "down.delay": "soon", "up.bandwidth": "fast" }, ttl: "forever", percent: 150, clients: ["10.0.0.0/8", "nope"] }),
  );
  assert.equal(apply.code, -32602);
  const data = apply.data as { path: string; message: string }[];
  assert.deepEqual(data.map((d) => d.path).sort(), ["params.clients[1]", "params.percent", "params.set.down.delay", "params.set.up.bandwidth", "params.ttl"].sort());
  for (const d of data) assert.ok(d.message.length > 10, `message for ${d.path} says something: ${d.message}`);
  assert.match(data.find((d) => d.path === "params.set.down.delay")!.message, /soon/);
  const spec = errorOf(await rpc.call("impair.apply", { proxy: "pg", spec: { down: { delay: -5 } } }));
  assert.equal(spec.code, -32602);
  assert.ok((spec.data as { path: string }[]).some((d) => d.path === "params.spec.down.delay"), JSON.stringify(spec.data));
  const topics = errorOf(await rpc.call("events.subscribe", { topics: ["stats", "gossip"], intervalMs: 5 }));
  assert.deepEqual((topics.data as { path: string }[]).map((d) => d.path).sort(), ["params.intervalMs", "params.topics[1]"]);
  // and nothing was applied
  assert.equal((await rpc.ok<{ impairment: unknown }[]>("proxy.list"))[0]!.impairment, null);
});

test("not found: proxy, profile and connection are -32004", async () => {
  assert.equal(errorOf(await rpc.call("impair.apply", { proxy: "nope", profile: "3g" })).code, -32004);
  assert.equal(errorOf(await rpc.call("impair.apply", { proxy: "pg", profile: "no-such-profile" })).code, -32004);
  assert.equal(errorOf(await rpc.call("impair.clear", { proxy: "nope" })).code, -32004);
  assert.equal(errorOf(await rpc.call("conn.list", { proxy: "nope" })).code, -32004);
  assert.equal(errorOf(await rpc.call("conn.reset", { proxy: "pg", id: "no-such-conn" })).code, -32004);
  assert.equal(errorOf(await rpc.call("profile.get", { name: "no-such-profile" })).code, -32004);
  assert.equal(errorOf(await rpc.call("proxy.update", { name: "nope", enabled: true })).code, -32004);
});

test("parse error, invalid request, unknown method", async () => {
  rpc.send("{not json");
  const parse = (await rpc.next()) as RpcReply;
  assert.equal(parse.id, null);
  assert.equal(errorOf(parse).code, -32700);

  for (const bad of [
    JSON.stringify({ jsonrpc: "1.0", id: 1, method: "agent.info" }),
    JSON.stringify({ jsonrpc: "2.0", id: 2, method: 5 }),
    JSON.stringify({ jsonrpc: "2.0", id: 3, method: "agent.info", params: [1, 2] }),
    JSON.stringify({ jsonrpc: "2.0", id: 4, method: "agent.info", params: "x" }),
    JSON.stringify({ jsonrpc: "2.0", id: { x: 1 }, method: "agent.info" }),
    JSON.stringify(42),
    "[]",
  ]) {
    rpc.send(bad);
    assert.equal(errorOf(await rpc.next()).code, -32600, bad);
  }
  const unknown = await rpc.call("proxy.explode", {});
  assert.equal(errorOf(unknown).code, -32601);
  assert.match(errorOf(unknown).message, /proxy\.explode/);
  // the agent still answers
  assert.equal((await rpc.ok<{ proxies: unknown[] }>("agent.info")).proxies.length, 1);
});

test("batches answer every request, skip notifications, and keep ids", async () => {
  rpc.send(
    JSON.stringify([
      { jsonrpc: "2.0", id: "a", method: "profile.list" },
      { jsonrpc: "2.0", method: "agent.info" },
      { jsonrpc: "2.0", id: "b", method: "no.such" },
      { jsonrpc: "2.0", id: "c", method: "profile.get", params: { name: "3g" } },
      7,
    ]),
  );
  const replies = (await rpc.next()) as RpcReply[];
  assert.ok(Array.isArray(replies));
  assert.equal(replies.length, 4);
  const byId = new Map(replies.map((r) => [r.id, r]));
  assert.ok(Array.isArray(byId.get("a")!.result));
  assert.equal(byId.get("b")!.error!.code, -32601);
  assert.equal((byId.get("c")!.result as { name: string }).name, "3g");
  assert.equal(byId.get(null)!.error!.code, -32600);
  // a batch of notifications only gets no reply at all
  rpc.send(JSON.stringify([{ jsonrpc: "2.0", method: "agent.info" }]));
  const info = await rpc.call("agent.info");
  assert.ok(info.result, "the next reply is the next request's, not an empty batch");
});

test("nesting deeper than 32 is refused before parsing; 32 is fine", async () => {
  const deep = "[".repeat(40) + "]".repeat(40);
  rpc.send(deep);
  const e = errorOf(await rpc.next());
  assert.equal(e.code, -32600);
  assert.match(e.message, /32/);
  // brackets inside strings do not count
  const params = { spec: { name: "deep-ok", description: "[".repeat(100) } };
  const r = await rpc.call("profile.define", params);
  assert.equal((r.result as { name: string }).name, "deep-ok");
  // 32 levels in all pass the scanner: a batch whose one member is not a request
  rpc.send("[".repeat(32) + "]".repeat(32));
  const batch = (await rpc.next()) as RpcReply[];
  assert.ok(Array.isArray(batch) && batch.length === 1, JSON.stringify(batch));
  assert.equal(errorOf(batch[0]).code, -32600);
  assert.match(errorOf(batch[0]).message, /request object/);
});

test("a frame over 1 MiB closes the connection with 1009; other sessions are unharmed", async () => {
  const victim = await RawRpc.open(agent.url);
  victim.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "agent.info", params: { pad: "x".repeat(1024 * 1024 + 10) } }));
  assert.equal(await victim.closed, 1009);
  assert.ok((await rpc.ok<{ id: string }>("agent.info")).id);
});

test("profiles: list, get, define", async () => {
  const names = await rpc.ok<string[]>("profile.list");
  for (const n of ["clean", "3g", "slow-3g", "blackhole"]) assert.ok(names.includes(n), n);
  const p = await rpc.ok<{ name: string; spec: { down: { bandwidth: number; delay: number } } }>("profile.get", { name: "3g" });
  assert.equal(p.spec.down.bandwidth, 1_000_000);
  assert.equal(p.spec.down.delay, 50);
  const defined = await rpc.ok<{ name: string; spec: { down: { delay: number } } }>("profile.define", { spec: { name: "mine", extends: "3g", down: { delay: "120ms" } } });
  assert.equal(defined.spec.down.delay, 120);
  assert.ok((await rpc.ok<string[]>("profile.list")).includes("mine"));
  const applied = await rpc.ok<{ profile: string }>("impair.apply", { proxy: "pg", profile: "mine" });
  assert.equal(applied.profile, "mine");
  await rpc.ok("impair.clear", { proxy: "pg" });
  const bad = errorOf(await rpc.call("profile.define", { spec: { down: { delay: "x" } } }));
  assert.equal(bad.code, -32602);
  assert.ok((bad.data as { path: string }[]).every((d) => d.path.startsWith("params.spec")), JSON.stringify(bad.data));
});

test("conn.list and conn.reset see live connections", async () => {
  const pg = (await rpc.ok<{ listen: string }[]>("proxy.list"))[0]!;
  const s = await dial(Number(pg.listen.split(":")[1]));
  const ended = new Promise<string>((resolve) => s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error")).on("close", () => resolve("close")));
  s.write("abc");
  await readBytes(s, 3);
  const conns = await rpc.ok<{ id: string; client: string; bytesUp: number; bytesDown: number; impaired: boolean; openedAt: string }[]>("conn.list", { proxy: "pg" });
  assert.equal(conns.length, 1);
  assert.equal(conns[0]!.client, `127.0.0.1:${s.localPort}`);
  assert.equal(conns[0]!.bytesUp, 3);
  assert.equal(conns[0]!.bytesDown, 3);
  assert.ok(!Number.isNaN(Date.parse(conns[0]!.openedAt)));
  const all = await rpc.ok<{ proxy: string }[]>("conn.list", { proxy: "*" });
  assert.deepEqual(all.map((c) => c.proxy), ["pg"]);
  assert.deepEqual(await rpc.ok("conn.reset", { proxy: "pg", id: conns[0]!.id }), { reset: 1 });
  assert.equal(await ended, "ECONNRESET");
  await sleep(20);
  assert.deepEqual(await rpc.ok("conn.list", { proxy: "pg" }), []);
});

test('proxy "*" applies to and clears every proxy, and panic clears everything', async () => {
  await rpc.ok("proxy.create", { name: "second", listen: "127.0.0.1:0", upstream: echo.address });
  const applied = await rpc.ok<{ proxy: string; profile: string; expiresAt: string | null }[]>("impair.apply", { proxy: "*", profile: "3g", ttl: "1m" });
  assert.deepEqual(applied.map((a) => a.proxy).sort(), ["pg", "second"]);
  for (const a of applied) {
    assert.equal(a.profile, "3g");
    const left = Date.parse(a.expiresAt!) - Date.now();
    assert.ok(left > 50_000 && left <= 60_000, `expiresAt about a minute ahead: ${left}`);
  }
  const list = await rpc.ok<{ name: string; impairment: { profile: string; percent: number; clients: string[] } | null }[]>("proxy.list");
  assert.ok(list.every((p) => p.impairment?.profile === "3g" && p.impairment.percent === 100 && p.impairment.clients.length === 0));
  assert.deepEqual(((await rpc.ok("impair.clear", { proxy: "*" })) as { proxy: string }[]).map((c) => c.proxy).sort(), ["pg", "second"]);
  assert.ok((await rpc.ok<{ impairment: unknown }[]>("proxy.list")).every((p) => p.impairment === null));

  await rpc.ok("impair.apply", { proxy: "pg", profile: "3g", percent: 50, clients: ["127.0.0.0/8"] });
  const pg = (await rpc.ok<{ name: string; impairment: { percent: number; clients: string[] } }[]>("proxy.list")).find((p) => p.name === "pg")!;
  assert.equal(pg.impairment.percent, 50);
  assert.deepEqual(pg.impairment.clients, ["127.0.0.0/8"]);
  await rpc.ok("impair.apply", { proxy: "second", profile: "2g", ttl: "200ms" });
  const panic = await rpc.ok<{ cleared: string[] }>("agent.panic");
  assert.deepEqual(panic.cleared.sort(), ["pg", "second"]);
  assert.ok((await rpc.ok<{ impairment: unknown }[]>("proxy.list")).every((p) => p.impairment === null));
  await sleep(300); // the cancelled ttl brings nothing back
  assert.ok((await rpc.ok<{ impairment: unknown }[]>("proxy.list")).every((p) => p.impairment === null));
  await rpc.ok("proxy.delete", { name: "second" });
});

test("apply clean with no overrides equals clear", async () => {
  await rpc.ok("impair.apply", { proxy: "pg", profile: "3g" });
  const r = await rpc.ok<{ profile: string }>("impair.apply", { proxy: "pg", profile: "clean" });
  assert.equal(r.profile, "clean");
  assert.equal((await rpc.ok<{ impairment: unknown }[]>("proxy.list"))[0]!.impairment, null);
  const oneOff = await rpc.ok<{ spec: { reset: { after: number } } }>("impair.apply", { proxy: "pg", profile: "clean", set: { "reset.after": "2s" } });
  assert.equal(oneOff.spec.reset.after, 2000);
  assert.equal((await rpc.ok<{ impairment: { profile: string } }[]>("proxy.list"))[0]!.impairment.profile, "clean");
  await rpc.ok("impair.clear", { proxy: "pg" });
});

test("events: stats with throughput, connection open/close, faults", async () => {
  const sub = await RawRpc.open(agent.url);
  try {
    assert.deepEqual(await sub.ok("events.subscribe", { topics: ["stats", "connections", "faults"], intervalMs: 100 }), { subscribed: ["stats", "connections", "faults"] });
    const pg = (await rpc.ok<{ listen: string }[]>("proxy.list"))[0]!;
    const s = await dial(Number(pg.listen.split(":")[1]));
    const payload = Buffer.alloc(20_000, 1);
    const got = readBytes(s, payload.length);
    s.write(payload);
    await got;
    await sleep(250);
    await rpc.ok("impair.apply", { proxy: "pg", profile: "clean", set: { "reset.after": 0 } });
    const ended = new Promise((resolve) => s.on("close", resolve));
    // a new connection gets reset at once
    const s2 = net.connect({ host: "127.0.0.1", port: Number(pg.listen.split(":")[1]) });
    s2.on("error", () => {});
    await new Promise((resolve) => s2.on("close", resolve));
    await ended;
    await rpc.ok("impair.clear", { proxy: "pg" });
    await sleep(250);
    const topics = new Set(sub.events.map((e) => e.params.topic));
    assert.deepEqual([...topics].sort(), ["connections", "faults", "stats"]);
    const opens = sub.events.filter((e) => e.params.topic === "connections" && e.params.data.type === "open");
    const closes = sub.events.filter((e) => e.params.topic === "connections" && e.params.data.type === "close");
    assert.ok(opens.length >= 2 && closes.length >= 2, `opens ${opens.length} closes ${closes.length}`);
    assert.ok(sub.events.every((e) => e.jsonrpc === "2.0" && e.params.proxy === "pg"));
    const faults = sub.events.filter((e) => e.params.topic === "faults");
    assert.ok(faults.some((f) => f.params.data.kind === "reset"), JSON.stringify(faults));
    const stats = sub.events.filter((e) => e.params.topic === "stats").map((e) => e.params.data as { throughputUp: number; bytesUp: number });
    assert.ok(stats.length >= 3, `stats ticks: ${stats.length}`);
    assert.ok(stats.some((st) => st.throughputUp > 0), "throughput seen while bytes flowed");
    assert.ok(stats.at(-1)!.bytesUp >= payload.length);
  } finally {
    await sub.close();
  }
});

test("rate limit answers -32029 and the connection stays usable", async () => {
  const limited = await startAgent({ rateLimit: { perSecond: 5, burst: 5 } });
  const peer = await RawRpc.open(limited.url);
  try {
    const batch = Array.from({ length: 8 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "profile.list" }));
    peer.send(JSON.stringify(batch));
    const replies = (await peer.next()) as RpcReply[];
    assert.equal(replies.filter((r) => r.result).length, 5);
    assert.equal(replies.filter((r) => r.error?.code === -32029).length, 3);
    await sleep(500);
    assert.ok((await peer.call("profile.list")).result, "tokens come back");
  } finally {
    await peer.close();
    await limited.close();
  }
});
