// The proxy's own controls over real sockets: resetting connections, maxConnections,
// enable/disable, stats.
import { test } from "node:test";
import assert from "node:assert/strict";
import net, { type Socket } from "node:net";
import { once } from "node:events";
import { dial, echoServer, roundTrip, sleep } from "../support/net.js";
import { endOfProbed, impair, portOf, startProxy, until, writeStream } from "../support/engine.js";

test("resetConnections(id) resets that one only; resetConnections() resets the rest", async () => {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address);
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 3; i++) clients.push(await dial(p.port));
    await until(() => p.proxy.connections().length === 3, "3 connections");
    const ends = clients.map((c) => endOfProbed(c, 5000));
    const byPort = new Map(p.proxy.connections().map((c) => [Number(c.client.split(":").pop()), c.id]));
    const firstId = byPort.get(clients[0]!.localPort!)!;
    assert.equal(p.proxy.resetConnections("no-such-id"), 0);
    assert.equal(p.proxy.resetConnections(firstId), 1);
    assert.equal(await ends[0], "reset");
    assert.ok((await roundTrip(clients[1]!)) < 100, "the others still work");
    assert.ok((await roundTrip(clients[2]!)) < 100);
    assert.equal(p.proxy.resetConnections(), 2);
    assert.equal(await ends[1], "reset");
    assert.equal(await ends[2], "reset");
    await until(() => p.proxy.connections().length === 0, "connections gone");
  } finally {
    for (const c of clients) c.destroy();
    await p.close();
    await upstream.close();
  }
});

test("maxConnections 2: a third client is reset; once one leaves, a new one gets in", async () => {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address, { maxConnections: 2 });
  const clients: Socket[] = [];
  try {
    clients.push(await dial(p.port), await dial(p.port));
    await until(() => p.proxy.connections().length === 2, "2 connections");
    const third = net.connect({ port: p.port, host: "127.0.0.1" });
    third.on("error", () => {});
    assert.equal(await endOfProbed(third, 5000), "reset");
    assert.ok((await roundTrip(clients[0]!)) < 100, "the first two still work");
    clients[0]!.destroy();
    await until(() => p.proxy.connections().length === 1, "one left");
    const fourth = await dial(p.port);
    clients.push(fourth);
    assert.ok((await roundTrip(fourth)) < 100, "a new client gets in");
    assert.equal(p.proxy.stats().connectionsTotal, 3, "the refused client was never a connection");
    assert.equal(p.proxy.stats().faults.refuse, 1, "but it is counted as a refusal");
  } finally {
    for (const c of clients) c.destroy();
    await p.close();
    await upstream.close();
  }
});

test("setEnabled(false) closes live connections and refuses new ones (ECONNREFUSED); enabling listens on the same port", async () => {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address);
  try {
    const c = await dial(p.port);
    assert.ok((await roundTrip(c)) < 100);
    const closed = endOfProbed(c, 5000);
    const t0 = performance.now();
    await p.proxy.setEnabled(false);
    assert.ok(performance.now() - t0 < 1000, "disabling does not wait for clients to leave");
    assert.notEqual(await closed, "timeout", "the live connection was closed");
    const refused = net.connect({ port: p.port, host: "127.0.0.1" });
    const [err] = (await once(refused, "error")) as [NodeJS.ErrnoException];
    assert.equal(err.code, "ECONNREFUSED");
    assert.equal(p.proxy.enabled, false);
    await p.proxy.setEnabled(true);
    assert.equal(portOf(p.proxy), p.port, "the same port again");
    const again = await dial(p.port);
    assert.ok((await roundTrip(again)) < 100);
    again.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("stats() moves while a connection is open: active, totals, bytes each way, queued bytes", async () => {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address);
  impair(p.proxy, (s) => ((s.down.bandwidth = 2e6), (s.up.delay = 10)));
  try {
    const zero = p.proxy.stats();
    assert.equal(zero.connectionsActive, 0);
    const c = await dial(p.port);
    c.resume();
    const w = writeStream(c, 400_000, { end: false });
    await sleep(400);
    const mid = p.proxy.stats();
    assert.equal(mid.connectionsActive, 1);
    assert.equal(mid.connectionsTotal, 1);
    assert.ok(mid.bytesUp > 0 && mid.bytesDown > 0, `bytes up ${mid.bytesUp}, down ${mid.bytesDown}`);
    assert.ok(mid.queueDown > 0, "the shaped direction holds bytes");
    assert.ok(mid.bytesDown <= (2e6 / 8) * 0.5, `down ${mid.bytesDown} bytes in 0.4 s at 2 Mbps`);
    await sleep(300);
    const later = p.proxy.stats();
    assert.ok(later.bytesDown > mid.bytesDown, "bytes down keep moving");
    const info = p.proxy.connections()[0]!;
    assert.ok(info.bytesUp > 0 && info.bytesDown > 0 && info.impaired);
    w.stop();
    c.destroy();
    await until(() => p.proxy.stats().connectionsActive === 0, "connection closed");
    assert.equal(p.proxy.stats().connectionsTotal, 1);
  } finally {
    await p.close();
    await upstream.close();
  }
});
