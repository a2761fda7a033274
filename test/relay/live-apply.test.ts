// Applying to live connections: a numbered stream survives 20 applies/clears 100 ms apart with
// no byte lost, duplicated or reordered, and a new delay reaches a live connection at once
// (queued bytes are re-timed by the new link).
import { test } from "node:test";
import assert from "node:assert/strict";
import { dial, echoServer, readBytes, roundTrip, sleep } from "../support/net.js";
import { checkStream, pushServer, spec, startProxy, writeStream } from "../support/engine.js";
import type { ImpairmentSpec } from "../../src/profiles/types.js";

const SPECS: Array<ImpairmentSpec | null> = [
  spec((s) => {
    for (const d of [s.up, s.down]) (d.bandwidth = 10e6), (d.delay = 20);
  }),
  null,
  spec((s) => {
    for (const d of [s.up, s.down]) (d.jitter = 10), (d.jitterDistribution = "normal"), (d.delay = 5);
  }),
  spec((s) => ((s.up.loss = 0.1), (s.up.rto = 30), (s.down.loss = 0.1), (s.down.rto = 30))),
  spec((s) => (s.down.slice = { size: 500, delay: 1 })),
  spec((s) => (s.stall = { every: 150, duration: 50, probability: 1 })),
  spec((s) => {
    for (const d of [s.up, s.down]) (d.bandwidth = 50e6), (d.mtu = 500), (d.jitter = 3);
  }),
];

test("20 applies and clears 100 ms apart during a transfer: no byte lost, duplicated or reordered", async () => {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address);
  try {
    const c = await dial(p.port);
    const { checker, ended } = checkStream(c);
    const writer = writeStream(c, 1024 * 1024 * 1024, { chunk: 16 * 1024 });
    for (let i = 0; i < 20; i++) {
      await sleep(100);
      const s = SPECS[i % SPECS.length]!;
      p.proxy.setImpairment(s === null ? null : { spec: s, percent: 100, clients: [] });
    }
    p.proxy.setImpairment(null);
    writer.stop();
    const sent = await writer.done;
    c.end();
    assert.equal(await ended, "end", "the echo's FIN came back");
    console.log(`# live apply: ${(sent / 1024 / 1024).toFixed(1)} MiB echoed through 20 applies`);
    assert.ok(sent > 1024 * 1024, `only ${sent} bytes were sent: the transfer hardly ran`);
    assert.equal(checker.received, sent, "every byte came back once");
    assert.equal(checker.firstMismatch, null, `stream damaged at offset ${checker.firstMismatch}`);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("a new delay reaches a live connection at once, and queued bytes are re-timed by the new link", async () => {
  const upstream = await echoServer();
  const p = await startProxy(upstream.address);
  const delay = (ms: number): void =>
    p.proxy.setImpairment({ spec: spec((s) => ((s.up.delay = ms / 2), (s.down.delay = ms / 2))), percent: 100, clients: [] });
  try {
    const c = await dial(p.port);
    const clean = await roundTrip(c);
    assert.ok(clean < 50, `clean round trip ${clean} ms`);
    delay(200);
    const slowed = await roundTrip(c);
    assert.ok(slowed >= 199 && slowed < 300, `round trip right after applying 200 ms: ${slowed.toFixed(1)} ms`);

    // Bytes held by a long delay leave within 50 ms of a clear.
    delay(2000);
    let t0 = performance.now();
    let got = readBytes(c, 64, 5000);
    c.write(Buffer.alloc(64, 1));
    await sleep(100);
    p.proxy.setImpairment(null);
    const applied = performance.now();
    await got;
    const afterClear = performance.now() - applied;
    assert.ok(afterClear < 50 + 30, `bytes left ${afterClear.toFixed(1)} ms after the clear`);

    // ... and are re-timed by a new, shorter delay: released at arrival + new delay.
    delay(2000);
    t0 = performance.now();
    got = readBytes(c, 64, 5000);
    c.write(Buffer.alloc(64, 2));
    await sleep(50);
    delay(300);
    await got;
    const rt = performance.now() - t0;
    console.log(`# live delay: clean ${clean.toFixed(1)} ms, +200 ms -> ${slowed.toFixed(1)} ms, clear releases in ${afterClear.toFixed(1)} ms, 2000 -> 300 ms gives ${rt.toFixed(1)} ms`);
    assert.ok(rt >= 299 && rt < 300 + 80, `round trip re-timed from 2000 to 300 ms took ${rt.toFixed(1)} ms`);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});

test("a transfer backed up on the fast path carries on after an apply puts a link in its way", async () => {
  const total = 32 * 1024 * 1024;
  const upstream = await pushServer(total);
  const p = await startProxy(upstream.address);
  try {
    const c = await dial(p.port);
    c.pause(); // read nothing: the fast path's write to the client backs up and pauses the upstream
    await sleep(300);
    p.proxy.setImpairment({ spec: spec((s) => (s.down.delay = 5)), percent: 100, clients: [] });
    const { checker, ended } = checkStream(c);
    c.resume(); // reads again: the client's drain must resume the upstream
    const how = await Promise.race([ended, sleep(10_000).then(() => "stuck")]);
    assert.equal(how, "end", `transfer ${how} after ${checker.received} of ${total} bytes`);
    assert.equal(checker.received, total);
    assert.equal(checker.firstMismatch, null);
    c.destroy();
  } finally {
    await p.close();
    await upstream.close();
  }
});
