// Each toxic's effect on real traffic through a real agent (echo upstream on loopback), set up
// with the npm toxiproxy-node-client as a Toxiproxy user would. Lower time bounds are tight,
// upper bounds generous (2 noisy cores).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { Toxiproxy, type ICreateToxicBody, type Proxy } from "toxiproxy-node-client";
import { startHarness, portOf, type Harness } from "./harness.js";
import { dial, endOf, readBytes, roundTrip, sleep } from "../support/net.js";
import { blackHoleUpstream } from "../support/black-hole.js";

let h: Harness;
let client: Toxiproxy;
let seq = 0;

before(async () => {
  h = await startHarness();
  client = new Toxiproxy(h.base);
});
after(async () => {
  await h.close();
});

async function proxy(): Promise<Proxy> {
  return client.createProxy({ name: `t${++seq}`, listen: "127.0.0.1:0", upstream: h.echo.address });
}

function toxic<T>(type: string, attributes: T, extra: { name?: string; stream?: "upstream" | "downstream"; toxicity?: number } = {}): ICreateToxicBody<T> {
  return { type, attributes, ...extra } as ICreateToxicBody<T>;
}

async function connect(p: Proxy): Promise<Socket> {
  return dial(portOf(p.listen));
}

/** Bytes that arrive within `ms`. */
async function bytesWithin(s: Socket, ms: number): Promise<number> {
  let got = 0;
  const onData = (c: Buffer): void => {
    got += c.length;
  };
  s.on("data", onData);
  await sleep(ms);
  s.off("data", onData);
  return got;
}

test("latency delays each direction; it reaches connections already open", async () => {
  const p = await proxy();
  const s = await connect(p);
  assert.ok((await roundTrip(s)) < 150, "clean before the toxic");
  await p.addToxic(toxic("latency", { latency: 150, jitter: 0 }));
  const down = await roundTrip(s);
  assert.ok(down >= 145, `downstream latency 150: round trip ${down.toFixed(1)} ms`);
  assert.ok(down < 1500, `round trip ${down.toFixed(1)} ms`);
  await p.addToxic(toxic("latency", { latency: 100, jitter: 0 }, { stream: "upstream" }));
  const both = await roundTrip(s);
  assert.ok(both >= 245, `150 down + 100 up: round trip ${both.toFixed(1)} ms`);
  s.destroy();
});

test("latency with jitter spreads round trips over latency +/- jitter", async () => {
  const p = await proxy();
  await p.addToxic(toxic("latency", { latency: 100, jitter: 50 }));
  const s = await connect(p);
  const samples: number[] = [];
  for (let i = 0; i < 12; i++) samples.push(await roundTrip(s));
  const min = Math.min(...samples);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  assert.ok(min >= 48, `min ${min.toFixed(1)} ms >= latency - jitter`);
  assert.ok(mean >= 70, `mean ${mean.toFixed(1)} ms near 100`);
  assert.ok(Math.max(...samples) - min > 5, `samples vary: ${samples.map((x) => x.toFixed(0)).join(",")}`);
  s.destroy();
});

test("bandwidth paces a direction at rate KB/s (1 KB = 1000 bytes)", async () => {
  const p = await proxy();
  await p.addToxic(toxic("bandwidth", { rate: 200 })); // 200 000 bytes/s downstream
  const s = await connect(p);
  const size = 100_000;
  const t0 = performance.now();
  const got = readBytes(s, size);
  s.write(Buffer.alloc(size, 3));
  assert.equal((await got).length, size);
  const ms = performance.now() - t0;
  assert.ok(ms >= 450, `100 KB at 200 KB/s took ${ms.toFixed(0)} ms (expected about 500)`);
  assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
  s.destroy();
});

test("bandwidth rate 0 holds the direction; removing the toxic delivers every held byte", async () => {
  const p = await proxy();
  const cut = await p.addToxic(toxic("bandwidth", { rate: 0 }, { name: "cut" }));
  const s = await connect(p);
  const payload = Buffer.from("held but never lost ".repeat(50));
  const all = readBytes(s, payload.length, 10_000);
  s.write(payload);
  await sleep(400);
  assert.equal(s.bytesRead, 0, "nothing passes while the rate is 0");
  await cut.remove();
  assert.deepEqual(await all, payload);
  s.destroy();
});

test("slow_close holds a FIN back by delay", async () => {
  const p = await proxy();
  await p.addToxic(toxic("slow_close", { delay: 400 }));
  const s = await connect(p);
  await roundTrip(s);
  const t0 = performance.now();
  const ended = endOf(s);
  s.end();
  assert.equal(await ended, "end");
  const ms = performance.now() - t0;
  assert.ok(ms >= 390, `FIN arrived after ${ms.toFixed(0)} ms`);
  s.destroy();
});

test("timeout: nothing gets through, then the connection is reset after timeout ms", async () => {
  const p = await proxy();
  await p.addToxic(toxic("timeout", { timeout: 300 }));
  const t0 = performance.now(); // before the dial: the trigger may start at the accept, before our connect event
  const s = await connect(p);
  const ended = endOf(s);
  s.write("hello");
  assert.equal(await ended, "reset");
  const ms = performance.now() - t0;
  assert.equal(s.bytesRead, 0);
  assert.ok(ms >= 290 && ms < 3000, `reset after ${ms.toFixed(0)} ms`);
});

test("timeout 0 never closes; removing it lets the data through", async () => {
  const p = await proxy();
  const t = await p.addToxic(toxic("timeout", { timeout: 0 }, { name: "freeze" }));
  const s = await connect(p);
  const ended = endOf(s, 700);
  s.write("still here");
  assert.equal(await ended, "timeout", "no FIN, no RST");
  await t.remove();
  assert.equal((await readBytes(s, 10, 5000)).toString(), "still here");
  s.destroy();
});

test("reset_peer sends a real RST on connections already open (Toxiproxy does not)", async () => {
  const p = await proxy();
  const s = await connect(p);
  await roundTrip(s);
  const ended = endOf(s);
  await p.addToxic(toxic("reset_peer", { timeout: 0 }));
  assert.equal(await ended, "reset");
});

test("reset_peer with a timeout resets new connections after timeout ms", async () => {
  const p = await proxy();
  await p.addToxic(toxic("reset_peer", { timeout: 300 }));
  const t0 = performance.now();
  const s = await connect(p);
  const ended = endOf(s);
  assert.ok((await roundTrip(s)) < 250, "data flows until the reset");
  assert.equal(await ended, "reset");
  const ms = performance.now() - t0;
  assert.ok(ms >= 290, `reset after ${ms.toFixed(0)} ms`);
});

test("slicer delivers in average_size pieces with delay microseconds between them", async () => {
  const p = await proxy();
  await p.addToxic(toxic("slicer", { average_size: 10, size_variation: 0, delay: 20_000 }));
  const s = await connect(p);
  const chunks: number[] = [];
  s.on("data", (c: Buffer) => chunks.push(c.length));
  const t0 = performance.now();
  const got = readBytes(s, 100);
  s.write(Buffer.alloc(100, 9));
  await got;
  const ms = performance.now() - t0;
  assert.ok(chunks.length >= 5, `arrived in ${chunks.length} reads: ${chunks.join(",")}`);
  assert.ok(Math.max(...chunks) <= 20, `pieces of about 10 bytes: ${chunks.join(",")}`);
  assert.ok(ms >= 170, `10 pieces 20 ms apart took ${ms.toFixed(0)} ms`);
  s.destroy();
});

test("slicer {average_size: 1000, size_variation: 1000} (what toxiproxy-node-client's tests send) is accepted and delivers varied pieces of at most 2000 bytes", async () => {
  const p = await proxy();
  // Toxiproxy answers 200 to this; so does netimpair now (it used to answer 400)
  const t = await p.addToxic(toxic("slicer", { average_size: 1000, size_variation: 1000, delay: 3000 }, { stream: "downstream" }));
  assert.deepEqual(t.attributes, { average_size: 1000, size_variation: 1000, delay: 3000 });
  const s = await connect(p);
  const chunks: number[] = [];
  s.on("data", (c: Buffer) => chunks.push(c.length));
  const total = 32 * 1024;
  const got = readBytes(s, total);
  s.write(Buffer.alloc(total, 3)); // one write: the echo sends it back down in a few reads, each sliced
  assert.equal((await got).length, total);
  // pieces 3 ms apart reach the client as separate reads (a stalled loop may merge a few)
  const small = chunks.filter((n) => n <= 2000);
  assert.ok(chunks.length >= 12, `arrived in ${chunks.length} reads: ${chunks.join(",")}`);
  assert.ok(small.length >= chunks.length * 0.8, `reads of at most 2000 bytes: ${small.length} of ${chunks.length}: ${chunks.join(",")}`);
  assert.ok(new Set(small).size >= 4, `piece sizes vary: ${chunks.join(",")}`);
  s.destroy();
});

test("limit_data passes exactly bytes, then closes gracefully", async () => {
  const p = await proxy();
  await p.addToxic(toxic("limit_data", { bytes: 1000 }));
  const s = await connect(p);
  const got = readBytes(s, 5000, 5000);
  const ended = endOf(s);
  s.write(Buffer.alloc(5000, 1));
  assert.equal((await got).length, 1000);
  assert.equal(await ended, "end");
  s.destroy();
});

test("half_open (a netimpair toxic): the client hears nothing, not even a FIN", async () => {
  const p = await proxy();
  await p.addToxic(toxic("half_open", { after: 0 }));
  const s = await connect(p);
  const ended = endOf(s, 600);
  s.write("anyone?");
  assert.equal(await ended, "timeout");
  assert.equal(s.bytesRead, 0);
  s.destroy();
});

test("toxicity decides per connection, once: another toxic's changes never re-roll it", async () => {
  const p = await proxy();
  await p.addToxic(toxic("latency", { latency: 200, jitter: 0 }, { name: "half", toxicity: 0.5 }));
  const socks = await Promise.all(Array.from({ length: 24 }, () => connect(p)));
  const slowSet = async (): Promise<boolean[]> => (await Promise.all(socks.map((s) => roundTrip(s)))).map((ms) => ms >= 150);
  const first = await slowSet();
  const slow = first.filter(Boolean).length;
  assert.ok(slow > 0 && slow < socks.length, `toxicity 0.5 slowed ${slow} of ${socks.length} connections`);
  const other = await p.addToxic(toxic("latency", { latency: 1, jitter: 0 }, { name: "other", stream: "upstream" }));
  assert.deepEqual(await slowSet(), first, "adding another toxic kept each connection's draw");
  await other.update({ attributes: { latency: 2, jitter: 0 } } as Parameters<typeof other.update>[0]);
  assert.deepEqual(await slowSet(), first, "updating another toxic kept each connection's draw");
  await other.remove();
  assert.deepEqual(await slowSet(), first, "removing another toxic kept each connection's draw");
  for (const s of socks) s.destroy();
});

test("toxicity 0 affects no connection", async () => {
  const p = await proxy();
  await p.addToxic(toxic("reset_peer", { timeout: 0 }, { toxicity: 0 }));
  const s = await connect(p);
  assert.ok((await roundTrip(s)) < 1000);
  assert.equal(await endOf(s, 300), "timeout", "no reset");
  s.destroy();
});

test("toxics compose with a profile applied over the control channel", async () => {
  const p = await proxy();
  h.agent.agent.apply({ proxy: p.name, spec: { down: { delay: 100 } }, who: "test" });
  const lat = await p.addToxic(toxic("latency", { latency: 100, jitter: 0 }));
  const s = await connect(p);
  const both = await roundTrip(s);
  assert.ok(both >= 195, `profile 100 + toxic 100: ${both.toFixed(1)} ms`);
  await lat.remove();
  const profileOnly = await roundTrip(s);
  assert.ok(profileOnly >= 95 && profileOnly < 190, `profile alone: ${profileOnly.toFixed(1)} ms`);
  await p.addToxic(toxic("latency", { latency: 100, jitter: 0 }));
  // a clear over the control channel removes every impairment, toxics included (issue 18)
  const removed = h.agent.agent.clear(p.name, "test");
  assert.deepEqual(removed, [{ proxy: p.name, profile: "custom", toxics: ["latency_downstream"] }]);
  const neither = await roundTrip(s);
  assert.ok(neither < 90, `clear took both off: ${neither.toFixed(1)} ms`);
  await p.addToxic(toxic("latency", { latency: 100, jitter: 0 }));
  const toxicOnly = await roundTrip(s);
  assert.ok(toxicOnly >= 95 && toxicOnly < 190, `toxic alone: ${toxicOnly.toFixed(1)} ms`);
  await client.reset();
  // Toxiproxy's /reset leaves the control channel's impairments alone, and vice versa
  h.agent.agent.apply({ proxy: p.name, spec: { down: { delay: 100 } }, who: "test" });
  await client.reset();
  assert.ok((await roundTrip(s)) >= 95, "the profile survives /reset");
  h.agent.agent.clear(p.name, "test");
  s.destroy();
});

test("a hanging upstream dial does not hold up other clients (Toxiproxy dials inside its accept loop)", async () => {
  const hole = await blackHoleUpstream();
  try {
    const p = await client.createProxy({ name: `t${++seq}`, listen: "127.0.0.1:0", upstream: hole.address });
    const stuck = await connect(p);
    stuck.write("waiting for a handshake that never completes");
    await p.update({ upstream: h.echo.address } as Parameters<typeof p.update>[0]);
    const t0 = performance.now();
    const s = await connect(p);
    const rt = await roundTrip(s);
    assert.ok(performance.now() - t0 < 2000, `the next client was served in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.ok(rt < 1000);
    assert.equal(stuck.bytesRead, 0, "the first client still waits on its dial");
    s.destroy();
    stuck.destroy();
  } finally {
    await hole.close();
  }
});
