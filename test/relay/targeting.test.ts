// Who an impairment reaches: a sticky share of connections (percent) and client CIDRs.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { dial, echoServer, roundTrip } from "../support/net.js";
import { binomialBounds, impair, portOf, startProxy, until } from "../support/engine.js";
import { Proxy } from "../../src/relay/proxy.js";

const delay50 = (s: { up: { delay: number }; down: { delay: number } }): void => {
  s.up.delay = 25;
  s.down.delay = 25;
};

function impairedIds(proxy: Proxy): Set<string> {
  return new Set(proxy.connections().filter((c) => c.impaired).map((c) => c.id));
}

test("percent 50 over 200 connections: a binomially plausible share is impaired, sticky across re-applies", async () => {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address);
  const clients: Socket[] = [];
  try {
    for (let batch = 0; batch < 10; batch++) clients.push(...(await Promise.all(Array.from({ length: 20 }, () => dial(p.port)))));
    await until(() => p.proxy.connections().length === 200, "200 connections open");
    impair(p.proxy, delay50, 50);
    const first = impairedIds(p.proxy);
    const [lo, hi] = binomialBounds(200, 0.5);
    console.log(`# percent 50: ${first.size}/200 impaired (bounds ${lo}-${hi})`);
    assert.ok(first.size >= lo && first.size <= hi, `${first.size} of 200 impaired`);

    impair(p.proxy, (s) => (s.down.bandwidth = 1e6), 50); // a different spec, same share
    assert.deepEqual(impairedIds(p.proxy), first, "the same connections, re-applied");
    impair(p.proxy, delay50, 100);
    assert.equal(impairedIds(p.proxy).size, 200);
    impair(p.proxy, delay50, 50);
    assert.deepEqual(impairedIds(p.proxy), first, "still the same after 100% and back");
    impair(p.proxy, delay50, 25);
    const quarter = impairedIds(p.proxy);
    assert.ok(quarter.size < first.size, "25% reaches fewer than 50%");
    for (const id of quarter) assert.ok(first.has(id), "a smaller share is a subset of the larger one");

    // The flag is what the bytes feel: impaired connections are delayed, the others are not.
    impair(p.proxy, delay50, 50);
    const conns = p.proxy.connections();
    const byPort = new Map(conns.map((c) => [Number(c.client.split(":").pop()), c.impaired]));
    let checkedImpaired = 0;
    let checkedClean = 0;
    for (const c of clients) {
      const impaired = byPort.get(c.localPort!);
      if (impaired === undefined) continue;
      if (impaired ? checkedImpaired >= 3 : checkedClean >= 3) continue;
      const rt = await roundTrip(c);
      if (impaired) {
        assert.ok(rt >= 49, `impaired connection round trip ${rt.toFixed(1)} ms`);
        checkedImpaired++;
      } else {
        assert.ok(rt < 40, `clean connection round trip ${rt.toFixed(1)} ms`);
        checkedClean++;
      }
    }
    assert.equal(checkedImpaired + checkedClean, 6);
  } finally {
    for (const c of clients) c.destroy();
    await p.close();
    await upstream.close();
  }
});

test("clients CIDR: 127.0.0.1/32 is impaired, 10.0.0.0/8 is not; on [::1], ::1/128 is and 127.0.0.0/8 is not", async () => {
  const upstream = await echoServer();
  const v4 = await startProxy(upstream.address);
  const v6 = new Proxy({ name: "v6", listen: "[::1]:0", upstream: upstream.address });
  await v6.start();
  const sockets: Socket[] = [];
  try {
    const c4 = await dial(v4.port);
    const c6 = await dial(portOf(v6), "::1");
    sockets.push(c4, c6);
    await until(() => v4.proxy.connections().length === 1 && v6.connections().length === 1, "both connections open");

    impair(v4.proxy, delay50, 100, ["127.0.0.1/32"]);
    assert.equal(v4.proxy.connections()[0]!.impaired, true);
    assert.ok((await roundTrip(c4)) >= 49, "127.0.0.1 is delayed");
    impair(v4.proxy, delay50, 100, ["10.0.0.0/8"]);
    assert.equal(v4.proxy.connections()[0]!.impaired, false);
    assert.ok((await roundTrip(c4)) < 40, "not delayed outside 10.0.0.0/8");

    impair(v6, delay50, 100, ["::1/128"]);
    assert.equal(v6.connections()[0]!.impaired, true);
    assert.ok((await roundTrip(c6)) >= 49, "::1 is delayed");
    impair(v6, delay50, 100, ["127.0.0.0/8"]);
    assert.equal(v6.connections()[0]!.impaired, false);
    assert.ok((await roundTrip(c6)) < 40);

    // a new connection takes the current targeting at accept
    impair(v4.proxy, delay50, 100, ["10.0.0.0/8", "127.0.0.0/8"]);
    const later = await dial(v4.port);
    sockets.push(later);
    assert.ok((await roundTrip(later)) >= 49, "a new client in one of the CIDRs is delayed");

    assert.throws(() => impair(v4.proxy, delay50, 100, ["10.0.0.0/33"]), /10\.0\.0\.0\/33/, "a bad CIDR is named");
  } finally {
    for (const s of sockets) s.destroy();
    await v4.close();
    await v6.close();
    await upstream.close();
  }
});
