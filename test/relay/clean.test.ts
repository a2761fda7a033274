// A clean proxy over real loopback sockets: bytes arrive identical both ways at once, half-close
// is carried, and failures travel as a real network shows them (resets).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net, { type Socket } from "node:net";
import { once } from "node:events";
import { dial, readBytes, sleep, startServer, echoServer } from "../support/net.js";
import { checkStream, impair, sha256, startProxy, streamBytes as streamChunk, writeStream, endOfProbed } from "../support/engine.js";
import { blackHoleUpstream } from "../support/black-hole.js";

/** Writes `total` random bytes with backpressure, hashing them; ends the socket after. */
function pumpRandom(s: Socket, total: number): Promise<string> {
  const h = sha256();
  let sent = 0;
  return new Promise((resolve, reject) => {
    const pump = (): void => {
      while (sent < total) {
        const buf = randomBytes(Math.min(256 * 1024, total - sent));
        h.update(buf);
        sent += buf.length;
        if (!s.write(buf)) return;
      }
      s.off("drain", pump);
      s.end();
      resolve(h.hex());
    };
    s.on("drain", pump);
    s.once("close", () => (sent < total ? reject(new Error(`closed after ${sent} of ${total} bytes`)) : undefined));
    pump();
  });
}

/** Hashes everything the socket receives until it ends. */
function hashIncoming(s: Socket): Promise<{ hex: string; bytes: number }> {
  const h = sha256();
  let bytes = 0;
  s.on("data", (c: Buffer) => {
    h.update(c);
    bytes += c.length;
  });
  return new Promise((resolve, reject) => {
    s.once("end", () => resolve({ hex: h.hex(), bytes }));
    s.once("error", reject);
  });
}

test("256 MiB each way at once through a clean proxy arrive identical (sha256 both ends)", async () => {
  const total = 256 * 1024 * 1024;
  let upstreamResult = null as Promise<[string, { hex: string; bytes: number }]> | null;
  const upstream = await startServer((s) => {
    upstreamResult = Promise.all([pumpRandom(s, total), hashIncoming(s)]);
  });
  const p = await startProxy(upstream.address);
  try {
    const t0 = performance.now();
    const c = await dial(p.port);
    const [sentUp, gotDown] = await Promise.all([pumpRandom(c, total), hashIncoming(c)]);
    assert.ok(upstreamResult, "the upstream was dialled");
    const [sentDown, gotUp] = await upstreamResult;
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(gotUp.bytes, total);
    assert.equal(gotDown.bytes, total);
    assert.equal(gotUp.hex, sentUp, "up bytes identical");
    assert.equal(gotDown.hex, sentDown, "down bytes identical");
    const stats = p.proxy.stats();
    assert.equal(stats.bytesUp, total);
    assert.equal(stats.bytesDown, total);
    console.log(`# clean relay: 2 x 256 MiB in ${seconds.toFixed(2)} s (${((2 * total) / 2 ** 20 / seconds).toFixed(0)} MiB/s total)`);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});

for (const impaired of [false, true]) {
  const label = impaired ? "through an impaired link (delay 20 ms)" : "on the fast path";
  test(`client FIN reaches the upstream while down keeps flowing, ${label}`, async () => {
    const downTotal = 2 * 1024 * 1024;
    let upstreamSaw = null as Promise<{ upBytes: number; how: string }> | null;
    const upstream = await startServer((s) => {
      const { checker, ended } = checkStream(s);
      upstreamSaw = ended.then(async (how) => {
        // The client's FIN arrived: keep sending down, then end.
        await writeStream(s, downTotal).done;
        return { upBytes: checker.received, how };
      });
    });
    const p = await startProxy(upstream.address);
    if (impaired) impair(p.proxy, (s) => ((s.up.delay = 20), (s.down.delay = 20)));
    try {
      const c = await dial(p.port);
      const down = checkStream(c);
      await writeStream(c, 100_000).done; // ends (FIN) after
      await sleep(50);
      assert.ok(upstreamSaw, "upstream dialled");
      const saw = await upstreamSaw;
      assert.equal(saw.how, "end", "upstream saw the client's FIN");
      assert.equal(saw.upBytes, 100_000, "all up bytes arrived before the FIN");
      assert.equal(await down.ended, "end", "client then saw the upstream's FIN");
      assert.equal(down.checker.received, downTotal, "down kept flowing after the client's FIN");
      assert.equal(down.checker.firstMismatch, null);
      c.destroy();
    } finally {
      await p.close();
      await upstream.close();
    }
  });

  test(`upstream FIN reaches the client while up keeps flowing, ${label}`, async () => {
    const upTotal = 2 * 1024 * 1024;
    let upstreamGot = null as Promise<{ bytes: number; mismatch: number | null; how: string }> | null;
    const upstream = await startServer((s) => {
      const { checker, ended } = checkStream(s);
      s.once("data", () => void writeStream(s, 50_000).done); // answer, then FIN
      upstreamGot = ended.then((how) => ({ bytes: checker.received, mismatch: checker.firstMismatch, how }));
    });
    const p = await startProxy(upstream.address);
    if (impaired) impair(p.proxy, (s) => ((s.up.delay = 20), (s.down.delay = 20)));
    try {
      const c = await dial(p.port);
      const down = checkStream(c);
      c.write(Buffer.from([0, 0, 0, 0])); // the stream's first bytes: wakes the upstream
      assert.equal(await down.ended, "end", "client saw the upstream's FIN");
      assert.equal(down.checker.received, 50_000);
      assert.equal(down.checker.firstMismatch, null);
      // keep sending up after the FIN (continuing the numbered stream from offset 4)
      let sent = 4;
      while (sent < upTotal) {
        const n = Math.min(64 * 1024, upTotal - sent);
        const ok = c.write(streamChunk(sent, n));
        sent += n;
        if (!ok) await once(c, "drain");
      }
      c.end();
      assert.ok(upstreamGot);
      const got = await upstreamGot;
      assert.equal(got.how, "end");
      assert.equal(got.bytes, upTotal, "up kept flowing after the upstream's FIN");
      assert.equal(got.mismatch, null);
      c.destroy();
    } finally {
      await p.close();
      await upstream.close();
    }
  });
}

test("an upstream that refuses (closed port) shows the client a reset", async () => {
  const closed = net.createServer();
  closed.listen(0, "127.0.0.1");
  await once(closed, "listening");
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const p = await startProxy(`127.0.0.1:${port}`);
  try {
    const c = await dial(p.port);
    const t0 = performance.now();
    assert.equal(await endOfProbed(c, 5000), "reset");
    assert.ok(performance.now() - t0 < 2000, "at once");
  } finally {
    await p.close();
  }
});

test("an upstream that resets mid-stream resets the client", async () => {
  const upstream = await startServer((s) => {
    s.write(Buffer.alloc(10_000, 1), () => setTimeout(() => s.resetAndDestroy(), 50));
  });
  const p = await startProxy(upstream.address);
  try {
    const c = await dial(p.port);
    const got = readBytes(c, 10_000);
    const how = endOfProbed(c, 5000);
    assert.equal((await got).length, 10_000, "bytes before the reset arrive");
    assert.equal(await how, "reset");
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("a client that resets shows the upstream a reset", async () => {
  let upstreamEnd = null as Promise<string> | null;
  const upstream = await startServer((s) => {
    upstreamEnd = endOfProbed(s, 5000);
    s.pipe(s);
  });
  const p = await startProxy(upstream.address);
  try {
    const c = await dial(p.port);
    c.write("hello");
    assert.equal((await readBytes(c, 5)).toString(), "hello");
    c.resetAndDestroy();
    assert.ok(upstreamEnd);
    assert.equal(await upstreamEnd, "reset");
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("a slow dial (connect.delay) still connects and passes bytes", async () => {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address, { connectTimeoutMs: 300 });
  impair(p.proxy, (s) => (s.connect = { delay: 200, refuse: 0 }));
  try {
    const c = await dial(p.port);
    c.write("ping");
    assert.equal((await readBytes(c, 4, 5000)).toString(), "ping");
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("an upstream whose dial never completes (full accept backlog) resets the client after connectTimeoutMs", async () => {
  const hole = await blackHoleUpstream();
  const p = await startProxy(hole.address, { connectTimeoutMs: 300 });
  try {
    const t0 = performance.now(); // before the dial: the agent may accept before our connect event runs
    const c = await dial(p.port);
    const how = await endOfProbed(c, 5000);
    const ms = performance.now() - t0;
    assert.equal(how, "reset");
    assert.ok(ms >= 299, `reset after ${ms.toFixed(0)} ms, expected >= 300`);
    assert.ok(ms < 2000, `reset after ${ms.toFixed(0)} ms`);
  } finally {
    await p.close();
    await hole.close();
  }
});
