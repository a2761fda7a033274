// Shared links over real sockets: connections of one client address share its link (share:
// client, the default), all of a proxy's connections share one (proxy), or each has its own
// (connection). Client addresses 127.0.0.2, 127.0.0.3 ... come from `localAddress` on loopback.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { dial, roundTrip, sleep, startServer, type Peer } from "../support/net.js";
import { checkStream, impair, startProxy, until, writeStream, type RunningProxy } from "../support/engine.js";
import type { ImpairmentSpec, QueueDiscipline, ShareScope } from "../../src/profiles/types.js";

const Mbps = 1_000_000;

/**
 * An upstream whose connections say what they want in their first byte: "B" a numbered stream
 * without end (bulk download), "E" an echo of what follows, "N" a numbered stream of the size
 * in the next 4 bytes (big-endian), then FIN.
 */
async function modeServer(): Promise<Peer> {
  return startServer((s) => {
    s.setNoDelay(true);
    let mode: string | null = null;
    let stop = (): void => {};
    s.on("end", () => {
      stop();
      s.end();
    });
    s.on("data", (c: Buffer) => {
      if (mode === "E") {
        s.write(c);
        return;
      }
      if (mode !== null) return;
      mode = String.fromCharCode(c[0]!);
      if (mode === "B") {
        const w = writeStream(s, Number.MAX_SAFE_INTEGER, { end: false });
        stop = () => w.stop();
        s.once("close", stop);
      } else if (mode === "N") {
        void writeStream(s, c.readUInt32BE(1));
      } else if (mode === "E" && c.length > 1) {
        s.write(c.subarray(1));
      }
    });
  });
}

interface Bulk {
  socket: Socket;
  received(): number;
}

async function bulk(port: number, from: string): Promise<Bulk> {
  const socket = await dial(port, "127.0.0.1", from);
  let n = 0;
  socket.on("data", (c: Buffer) => (n += c.length));
  socket.write("B");
  return { socket, received: () => n };
}

/** Bytes per second of each connection over `windowMs`, after `warmMs` of running. */
async function rates(conns: Bulk[], warmMs: number, windowMs: number): Promise<number[]> {
  await sleep(warmMs);
  const before = conns.map((c) => c.received());
  const t0 = performance.now();
  await sleep(windowMs);
  const ms = performance.now() - t0;
  return conns.map((c, i) => ((c.received() - before[i]!) * 8 * 1000) / ms);
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function jain(xs: number[]): number {
  return sum(xs) ** 2 / (xs.length * sum(xs.map((x) => x * x)));
}

function mbps(xs: number[]): string {
  return xs.map((x) => (x / Mbps).toFixed(2)).join(" ");
}

function downLink(bandwidth: number, share: ShareScope, queue: QueueDiscipline = "fair", delay = 10): (s: ImpairmentSpec) => void {
  return (s) => {
    s.share = share;
    s.queue = queue;
    s.down.bandwidth = bandwidth;
    s.down.delay = delay;
    s.up.delay = delay;
  };
}

async function withProxy(body: (p: RunningProxy) => Promise<void>): Promise<void> {
  const upstream = await modeServer();
  const p = await startProxy(upstream.address);
  try {
    await body(p);
  } finally {
    await p.close();
    await upstream.close();
  }
}

async function closeAll(conns: Bulk[]): Promise<void> {
  for (const c of conns) c.socket.destroy();
}

test("share client (the default): 4 connections from one client share its 4 Mbps; connection gives each its own", async () => {
  await withProxy(async (p) => {
    impair(p.proxy, (s) => (s.down.bandwidth = 4 * Mbps)); // share and queue left at their defaults
    assert.equal(p.proxy.impairment?.spec.share, "client");
    assert.equal(p.proxy.impairment?.spec.queue, "fair");
    const conns = await Promise.all([1, 2, 3, 4].map(() => bulk(p.port, "127.0.0.2")));
    const shared = await rates(conns, 600, 2000);
    console.log(`# share client, 4 connections at 4 Mbps: ${mbps([sum(shared)])} in total; each ${mbps(shared)}; Jain ${jain(shared).toFixed(3)}`);
    assert.ok(sum(shared) >= 0.88 * 4 * Mbps && sum(shared) <= 1.1 * 4 * Mbps, `total ${mbps([sum(shared)])} Mbps, expected about 4`);
    assert.ok(jain(shared) >= 0.95, `shares ${mbps(shared)} (Jain ${jain(shared).toFixed(3)})`);
    for (const r of shared) assert.ok(r >= 0.7 * Mbps && r <= 1.3 * Mbps, `a connection got ${mbps([r])} Mbps of its 1`);
    assert.equal(p.proxy.sharedLinks, 1, "one shared link: the client's down direction (up is unlimited)");

    impair(p.proxy, downLink(4 * Mbps, "connection"));
    const own = await rates(conns, 600, 2000);
    console.log(`# share connection, 4 connections at 4 Mbps: ${mbps([sum(own)])} in total; each ${mbps(own)}`);
    assert.ok(sum(own) >= 0.8 * 16 * Mbps && sum(own) <= 1.1 * 16 * Mbps, `total ${mbps([sum(own)])} Mbps, expected about 16 (4 each)`);
    assert.equal(p.proxy.sharedLinks, 0, "share connection uses no shared link");
    await closeAll(conns);
  });
});

test("two client addresses: share client gives each address its own link, share proxy one between them", async () => {
  await withProxy(async (p) => {
    impair(p.proxy, downLink(4 * Mbps, "client"));
    const conns = await Promise.all(["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"].map((a) => bulk(p.port, a)));
    const perClient = await rates(conns, 600, 2000);
    const a = perClient[0]! + perClient[1]!;
    const b = perClient[2]! + perClient[3]!;
    console.log(`# share client: 127.0.0.2 ${mbps([a])}, 127.0.0.3 ${mbps([b])} Mbps (4 each)`);
    for (const [who, r] of [["127.0.0.2", a], ["127.0.0.3", b]] as const) {
      assert.ok(r >= 0.88 * 4 * Mbps && r <= 1.1 * 4 * Mbps, `${who} got ${mbps([r])} Mbps, expected about 4`);
    }
    assert.equal(p.proxy.sharedLinks, 2);

    impair(p.proxy, downLink(4 * Mbps, "proxy"));
    const perProxy = await rates(conns, 600, 2000);
    console.log(`# share proxy: ${mbps([sum(perProxy)])} Mbps in total (4); each ${mbps(perProxy)}; Jain ${jain(perProxy).toFixed(3)}`);
    assert.ok(sum(perProxy) >= 0.88 * 4 * Mbps && sum(perProxy) <= 1.1 * 4 * Mbps, `total ${mbps([sum(perProxy)])} Mbps, expected about 4`);
    assert.ok(jain(perProxy) >= 0.95, `shares ${mbps(perProxy)}`);
    assert.equal(p.proxy.sharedLinks, 1);
    await closeAll(conns);
    await until(() => p.proxy.sharedLinks === 0, "the shared link to be dropped with its last connection");
  });
});

/** Round trips (ms, sorted) of `count` 64-byte pings on an echo connection from `from`. */
async function pings(port: number, from: string, count: number): Promise<number[]> {
  const s = await dial(port, "127.0.0.1", from);
  s.write("E");
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(await roundTrip(s, 64));
    await sleep(20);
  }
  s.destroy();
  return out.sort((x, y) => x - y);
}

test("a small round trip beside a bulk download: near the rtt with fair, behind the queue with fifo", async () => {
  await withProxy(async (p) => {
    const rtt = 40;
    const serialization = (1460 * 8 * 1000) / (1 * Mbps); // 11.7 ms per segment at 1 Mbps
    const results: Record<string, number> = {};
    for (const queue of ["fair", "fifo"] as const) {
      impair(p.proxy, downLink(1 * Mbps, "client", queue, rtt / 2));
      const download = await bulk(p.port, "127.0.0.2");
      await sleep(800); // the download fills its share of the queue
      const samples = await pings(p.port, "127.0.0.2", 9);
      download.socket.destroy();
      const median = samples[Math.floor(samples.length / 2)]!;
      results[queue] = median;
      console.log(`# ${queue}: ping beside a 1 Mbps download: median ${median.toFixed(1)} ms (rtt ${rtt}, one segment ${serialization.toFixed(1)} ms); all ${samples.map((x) => x.toFixed(0)).join(" ")}`);
      await until(() => p.proxy.sharedLinks === 0, "the old shared link to go");
    }
    assert.ok(results.fair! >= rtt - 1, `fair ping ${results.fair} ms below the rtt`);
    assert.ok(results.fair! <= rtt + 2 * serialization + 15, `fair ping ${results.fair!.toFixed(1)} ms, more than rtt + 2 segments (+15 ms slack)`);
    // the bulk flow's share of a 64 KiB queue is ~0.5 s at 1 Mbps: a fifo ping waits behind it
    assert.ok(results.fifo! >= rtt + 150, `fifo ping ${results.fifo!.toFixed(1)} ms: it did not wait behind the queue`);
    // ... but behind no more than the bound (64 KiB), whatever the chunks the download arrives in
    const boundMs = ((64 * 1024 * 8) / Mbps) * 1000;
    assert.ok(results.fifo! <= rtt + 1.15 * boundMs + 30, `fifo ping ${results.fifo!.toFixed(1)} ms: the queue grew beyond its bound (${boundMs.toFixed(0)} ms of bytes)`);
  });
});

test("join and leave: a second connection halves the first one's rate at once, and leaving gives it back", async () => {
  await withProxy(async (p) => {
    impair(p.proxy, downLink(4 * Mbps, "client", "fair", 20));
    const first = await bulk(p.port, "127.0.0.2");
    const [alone] = await rates([first], 500, 1000);
    const second = await bulk(p.port, "127.0.0.2");
    // within one round trip (40 ms) of joining the shares change: measure from 100 ms on
    const together = await rates([first, second], 100, 1000);
    second.socket.destroy();
    const [after] = await rates([first], 100, 1000);
    console.log(`# alone ${mbps([alone!])}, with a second ${mbps(together)}, after it left ${mbps([after!])} Mbps`);
    assert.ok(alone! >= 0.85 * 4 * Mbps, `alone: ${mbps([alone!])}`);
    for (const r of together) assert.ok(r >= 0.35 * 4 * Mbps && r <= 0.65 * 4 * Mbps, `together: ${mbps(together)} (2 each expected)`);
    assert.ok(sum(together) >= 0.85 * 4 * Mbps, `together in total ${mbps([sum(together)])}`);
    assert.ok(after! >= 0.85 * 4 * Mbps, `after the second left: ${mbps([after!])}`);
    first.socket.destroy();
  });
});

test("live switches of share and queue on busy links lose, duplicate and reorder nothing (checked byte by byte)", async () => {
  // downloads of numbered streams ("N" + size) and uploads into a checking sink, from two addresses
  const total = 3 * 1024 * 1024;
  const sinks: { received: number; mismatch: number | null; ended: Promise<void> }[] = [];
  const sink = await startServer((s) => {
    s.on("end", () => s.end());
    const checker = checkStream(s);
    const entry = { received: 0, mismatch: null as number | null, ended: checker.ended.then(() => undefined) };
    sinks.push(entry);
    void checker.ended.then(() => {
      entry.received = checker.checker.received;
      entry.mismatch = checker.checker.firstMismatch;
    });
  });
  const upstream = await modeServer();
  const down = await startProxy(upstream.address);
  const up = await startProxy(sink.address);
  try {
    const steps: ((s: ImpairmentSpec) => void)[] = [];
    const shares: ShareScope[] = ["client", "proxy", "connection", "client", "proxy"];
    const queues: QueueDiscipline[] = ["fair", "fifo"];
    for (let i = 0; i < 12; i++) {
      const share = shares[i % shares.length]!;
      const queue = queues[i % 2]!;
      const bandwidth = [20, 40, 10][i % 3]! * Mbps;
      steps.push((s) => {
        s.share = share;
        s.queue = queue;
        s.down.bandwidth = bandwidth;
        s.up.bandwidth = bandwidth;
        s.down.delay = 5;
        s.up.delay = 5;
        s.down.jitter = i % 2 === 0 ? 3 : 0;
      });
    }
    for (const p of [down, up]) impair(p.proxy, steps[0]!);
    const addresses = ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.4"];
    const downloads = await Promise.all(
      addresses.map(async (a) => {
        const s = await dial(down.port, "127.0.0.1", a);
        const checked = checkStream(s);
        const req = Buffer.alloc(5);
        req.write("N");
        req.writeUInt32BE(total, 1);
        s.write(req);
        return { s, checked };
      }),
    );
    const uploads = await Promise.all(
      addresses.map(async (a) => {
        const s = await dial(up.port, "127.0.0.1", a);
        return { s, done: writeStream(s, total).done };
      }),
    );
    for (const step of steps.slice(1)) {
      await sleep(120);
      for (const p of [down, up]) impair(p.proxy, step);
    }
    // let them finish on a fast link
    for (const p of [down, up]) impair(p.proxy, (s) => ((s.down.bandwidth = 200 * Mbps), (s.up.bandwidth = 200 * Mbps)));
    await Promise.all(downloads.map((d) => d.checked.ended));
    await Promise.all(uploads.map((u) => u.done));
    await until(() => sinks.length === addresses.length, "every upload to reach the sink", 10_000);
    await Promise.all(sinks.map((e) => e.ended));
    for (const [i, d] of downloads.entries()) {
      assert.equal(d.checked.checker.firstMismatch, null, `download ${i} differs at byte ${d.checked.checker.firstMismatch}`);
      assert.equal(d.checked.checker.received, total, `download ${i}: ${d.checked.checker.received} of ${total} bytes`);
    }
    for (const [i, e] of sinks.entries()) {
      assert.equal(e.mismatch, null, `upload ${i} differs at byte ${e.mismatch}`);
      assert.equal(e.received, total, `upload ${i}: ${e.received} of ${total} bytes`);
    }
    console.log(`# ${addresses.length} downloads and ${addresses.length} uploads of ${total} bytes intact through ${steps.length} switches`);
    for (const d of downloads) d.s.destroy();
    for (const u of uploads) u.s.destroy();
    await until(() => down.proxy.sharedLinks === 0 && up.proxy.sharedLinks === 0, "the shared links to be dropped");
  } finally {
    await down.close();
    await up.close();
    await upstream.close();
    await sink.close();
  }
});

test("hundreds of clients that never read: memory stays bounded and a reading neighbour keeps flowing", async () => {
  await withProxy(async (p) => {
    const MiB = 1024 * 1024;
    const silentCount = 200;
    // a fast shared link first, so the silent clients fill their socket buffers quickly
    impair(p.proxy, downLink(400 * Mbps, "client", "fair", 10));
    const before = process.memoryUsage();
    const silent: Socket[] = [];
    for (let i = 0; i < silentCount; i++) {
      const s = await dial(p.port, "127.0.0.1", "127.0.0.2");
      s.pause(); // never reads
      s.write("B");
      silent.push(s);
    }
    // until nothing moves any more: every silent client's buffers are full, its link paused
    let last = -1;
    let stableSince = performance.now();
    const t0 = performance.now();
    for (;;) {
      await sleep(100);
      const delivered = p.proxy.stats().bytesDown;
      if (delivered !== last) {
        last = delivered;
        stableSince = performance.now();
      } else if (performance.now() - stableSince >= 500) break;
      assert.ok(performance.now() - t0 < 30_000, `the silent clients never filled up: ${(delivered / MiB).toFixed(0)} MiB delivered`);
    }
    const stats = p.proxy.stats();
    const after = process.memoryUsage();
    const growth = (after.rss - before.rss) / MiB;
    // each silent connection holds at most its share of the bound, one read held back (64 KiB)
    // and the chunk that crossed it
    const bound = 2 * (400 * Mbps / 8) * 0.01;
    console.log(
      `# ${silentCount} silent clients: ${(stats.bytesDown / MiB).toFixed(0)} MiB delivered until their buffers filled; ` +
        `agent queue ${(stats.queueDown / MiB).toFixed(2)} MiB (bound ${(bound / MiB).toFixed(2)} MiB), rss +${growth.toFixed(1)} MiB`,
    );
    assert.ok(stats.queueDown > 0, "the silent connections hold bytes");
    assert.ok(stats.queueDown <= bound + silentCount * 2 * 64 * 1024, `the agent holds ${stats.queueDown} bytes`);
    assert.ok(growth < 200, `rss grew ${growth.toFixed(1)} MiB`);
    // now a slow link: the silent ones, paused, do not take the reader's share of it
    impair(p.proxy, downLink(8 * Mbps, "client", "fair", 10));
    const reader = await bulk(p.port, "127.0.0.2");
    const [rate] = await rates([reader], 500, 1500);
    console.log(`# the reading client beside them got ${mbps([rate!])} of 8 Mbps; agent queue ${(p.proxy.stats().queueDown / MiB).toFixed(2)} MiB`);
    assert.ok(rate! >= 0.6 * 8 * Mbps, `the reading client got ${mbps([rate!])} Mbps beside ${silentCount} silent ones`);
    assert.ok(p.proxy.stats().queueDown <= bound + (silentCount + 1) * 2 * 64 * 1024, "the queue stayed bounded after the apply");
    reader.socket.destroy();
    for (const s of silent) s.destroy();
    await until(() => p.proxy.sharedLinks === 0, "the shared link to be dropped", 10_000);
  });
});
