// The library's control client against a real agent: typed calls, RpcError codes, connection
// errors naming the URL, events, and bindToSession (default true) reverting when it closes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, ConnectionError, ControlClient, RpcError } from "../../src/control/client.js";
import { ErrorCode, type EventNotification, type MethodName } from "../../src/control/protocol.js";
import { closedPort, startEchoAgent, type EchoAgent } from "../support/cli.js";
import { dial, roundTrip, sleep, startServer } from "../support/net.js";

let ea: EchoAgent;
let observer: ControlClient;

before(async () => {
  ea = await startEchoAgent({ labels: { service: "orders" } });
  observer = await connect(ea.agent.url);
});

after(async () => {
  await observer.close();
  await ea.close();
});

async function impairmentOf(name: string) {
  return (await observer.proxies()).find((p) => p.name === name)?.impairment;
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

test("typed calls: info, proxies, create/update/delete, profiles", async () => {
  const info = await observer.info();
  assert.equal(typeof info.id, "string");
  assert.deepEqual(info.labels, { service: "orders" });
  assert.deepEqual(
    info.proxies.map((p) => p.name),
    ["pg"],
  );
  const created = await observer.createProxy("lib", "127.0.0.1:0", ea.echo.address);
  assert.equal(created.enabled, true);
  const port = Number(created.listen.split(":").pop());
  assert.ok(port > 0);
  const s = await dial(port);
  assert.ok((await roundTrip(s)) < 1000);
  s.destroy();
  const disabled = await observer.updateProxy("lib", { enabled: false });
  assert.equal(disabled.enabled, false);
  await assert.rejects(dial(port), /ECONNREFUSED/);
  assert.deepEqual(await observer.deleteProxy("lib"), { deleted: true });
  const names = await observer.profiles();
  assert.ok(names.includes("slow-3g") && names.includes("clean"));
  const p = await observer.profile("fast-3g");
  assert.equal(p.name, "fast-3g");
  assert.equal(p.spec.down.bandwidth, 1_600_000);
  const defined = await observer.defineProfile({ name: "lib-test", extends: "3g", down: { delay: "70ms" } });
  assert.equal(defined.spec.down.delay, 70);
  assert.equal(defined.spec.down.bandwidth, 1_000_000);
});

test("RpcError carries the JSON-RPC code and field errors", async () => {
  const notFound = await observer.clear("nope").catch((e: unknown) => e);
  assert.ok(notFound instanceof RpcError);
  assert.equal(notFound.code, ErrorCode.NotFound);
  assert.equal(notFound.method, "impair.clear");
  assert.match(notFound.message, /nope/);

  const invalid = await observer.apply("pg", "clean", { set: { "down.delay": "soon" } }).catch((e: unknown) => e);
  assert.ok(invalid instanceof RpcError);
  assert.equal(invalid.code, ErrorCode.InvalidParams);
  assert.ok(Array.isArray(invalid.data));
  const fields = invalid.data as { path: string; message: string }[];
  assert.ok(fields.some((f) => f.path.endsWith("set.down.delay")), JSON.stringify(fields));
  assert.match(invalid.message, /set\.down\.delay: .*"soon"/);

  const conflict = await observer.createProxy("pg", "127.0.0.1:0", ea.echo.address).catch((e: unknown) => e);
  assert.ok(conflict instanceof RpcError);
  assert.equal(conflict.code, ErrorCode.Conflict);

  const unknown = await observer.call("no.such" as MethodName, undefined as never).catch((e: unknown) => e);
  assert.ok(unknown instanceof RpcError);
  assert.equal(unknown.code, ErrorCode.MethodNotFound);
  // the connection survives errors
  assert.equal((await observer.proxies()).length, 1);
});

test("apply is bound to the session by default: closing the client reverts it", async () => {
  const s = await dial(ea.proxyPort);
  try {
    const ctl = await connect(ea.agent.url);
    assert.equal(ctl.bindToSession, true);
    const r = await ctl.apply("pg", "clean", { set: { "down.delay": "150ms" } });
    assert.ok(!Array.isArray(r));
    assert.equal(r.spec.down.delay, 150);
    assert.ok((await roundTrip(s)) >= 140);
    assert.equal((await impairmentOf("pg"))?.profile, "clean");
    await ctl.close();
    await waitFor("the bound impairment to revert", async () => (await impairmentOf("pg")) === null);
    assert.ok((await roundTrip(s)) < 140);
  } finally {
    s.destroy();
  }
});

test("bindToSession false (per call or per client) outlives the client", async () => {
  const perCall = await connect(ea.agent.url);
  await perCall.apply("pg", "3g", { bindToSession: false });
  await perCall.close();
  await sleep(200);
  assert.equal((await impairmentOf("pg"))?.profile, "3g");
  const unbound = await connect(ea.agent.url, { bindToSession: false });
  await unbound.apply("pg", "4g", { ttl: "1m", percent: 50, clients: ["127.0.0.1/32"] });
  await unbound.close();
  await sleep(200);
  const imp = await impairmentOf("pg");
  assert.equal(imp?.profile, "4g");
  assert.equal(imp?.percent, 50);
  assert.deepEqual(imp?.clients, ["127.0.0.1/32"]);
  assert.ok(imp?.expiresAt);
  const cleared = await observer.clear("*");
  assert.deepEqual(cleared, [{ proxy: "pg", removed: { profile: "4g", toxics: [] } }]);
  assert.equal(await impairmentOf("pg"), null);
});

test("connections, reset and panic", async () => {
  const s = await dial(ea.proxyPort);
  try {
    await roundTrip(s);
    const conns = await observer.connections("pg");
    assert.equal(conns.length, 1);
    assert.ok(conns[0]!.bytesUp >= 64 && conns[0]!.bytesDown >= 64);
    const ended = new Promise<string>((resolve) => s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error")));
    assert.deepEqual(await observer.reset("pg", conns[0]!.id), { reset: 1 });
    assert.equal(await ended, "ECONNRESET");
  } finally {
    s.destroy();
  }
  const c = await connect(ea.agent.url, { bindToSession: false });
  await c.apply("pg", "2g", { ttl: "5m" });
  assert.deepEqual(await c.panic(), { cleared: ["pg"], removed: [{ proxy: "pg", profile: "2g", toxics: [] }] });
  assert.equal(await impairmentOf("pg"), null);
  await c.close();
});

test("subscribe delivers stats events until unsubscribed", async () => {
  const ctl = await connect(ea.agent.url);
  try {
    const events: EventNotification[] = [];
    const stop = await ctl.subscribe(["stats"], (e) => events.push(e), 100);
    await waitFor("two stats events", async () => events.filter((e) => e.topic === "stats" && e.proxy === "pg").length >= 2);
    stop();
    const n = events.length;
    await sleep(300);
    assert.equal(events.length, n, "no handler calls after unsubscribe");
  } finally {
    await ctl.close();
  }
});

test("connection errors name the URL: refused, unauthorized, timeout, bad URL; calls after close fail", async () => {
  const port = await closedPort();
  const refused = await connect(`ws://127.0.0.1:${port}/control`).catch((e: unknown) => e);
  assert.ok(refused instanceof ConnectionError);
  assert.equal(refused.kind, "refused");
  assert.equal(refused.message, `ws://127.0.0.1:${port}/control: connection refused`);

  const locked = await startEchoAgent({ token: "s3cret" });
  try {
    const denied = await connect(locked.agent.url, { token: "wrong" }).catch((e: unknown) => e);
    assert.ok(denied instanceof ConnectionError);
    assert.equal(denied.kind, "unauthorized");
    assert.match(denied.message, new RegExp(`^${locked.agent.url}: 401 unauthorized`));
    const ok = await connect(locked.agent.url, { token: "s3cret" });
    assert.equal((await ok.proxies())[0]!.name, "pg");
    await ok.close();
    await assert.rejects(ok.proxies(), (e: unknown) => e instanceof ConnectionError && e.kind === "closed" && e.message.startsWith(locked.agent.url));
  } finally {
    await locked.close();
  }

  const silent = await startServer(() => {});
  try {
    const t0 = performance.now();
    const slow = await connect(`ws://${silent.address}/control`, { timeoutMs: 300 }).catch((e: unknown) => e);
    assert.ok(slow instanceof ConnectionError);
    assert.equal(slow.kind, "timeout");
    assert.match(slow.message, /timed out connecting after 300ms/);
    assert.ok(performance.now() - t0 >= 290);
  } finally {
    await silent.close();
  }

  await assert.rejects(connect("http//nope"), (e: unknown) => e instanceof ConnectionError && /not a valid URL/.test(e.message));
  await assert.rejects(connect("ftp://127.0.0.1:1/control"), /unsupported scheme ftp:/);
});

test("an agent that goes away fails pending and later calls with the URL", async () => {
  const gone = await startEchoAgent();
  const ctl = await connect(gone.agent.url);
  await gone.close();
  await waitFor("the client to notice", async () => !ctl.open);
  await assert.rejects(ctl.info(), (e: unknown) => e instanceof ConnectionError && e.message.startsWith(`${gone.agent.url}: connection closed by the agent`));
  await ctl.close();
});
