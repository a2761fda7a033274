// Write moderation over real sockets, through the agent: above its linkWriteBudget a slow link's
// bulk bytes reach the client in fewer, larger reads at the same rate; within it (budget 0:
// never) segment by segment; a lone request's round trip is not merged with anything.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import type { Socket } from "node:net";
import { startAgent, type RunningAgent } from "../../src/index.js";
import { RawRpc } from "../support/rpc.js";
import { dial, readBytes, sleep, startServer, type Peer } from "../support/net.js";

const CONNS = 3;
const BPS = 2e6; // 5.84 ms per 1460-byte segment: each its own write unmoderated
const SEGMENT = 1460;

/** An upstream that writes to each connection flat out after its first byte; "p" is a ping it echoes. */
function bulkServer(): Promise<Peer> {
  const chunk = Buffer.alloc(64 * 1024, 0x42);
  return startServer((s) => {
    s.once("data", (d: Buffer) => {
      if (d[0] === 0x70) {
        s.write("p");
        s.on("data", () => s.write("p"));
        return;
      }
      const pump = (): void => {
        while (!s.destroyed && s.write(chunk));
      };
      s.on("drain", pump);
      pump();
    });
  });
}

function scrape(httpUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${httpUrl}/metrics`, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end();
  });
}

interface Reads {
  sizes: number[];
  bytes: number;
}

/** CONNS bulk downloads through the proxy for `ms`, after `warmMs`: every read's size, and the bytes. */
async function download(port: number, warmMs: number, ms: number): Promise<Reads[]> {
  const socks: Socket[] = [];
  const reads: Reads[] = [];
  let counting = false;
  for (let i = 0; i < CONNS; i++) {
    const s = await dial(port);
    const r: Reads = { sizes: [], bytes: 0 };
    s.on("data", (d: Buffer) => {
      if (!counting) return;
      r.sizes.push(d.length);
      r.bytes += d.length;
    });
    s.write("g");
    socks.push(s);
    reads.push(r);
  }
  await sleep(warmMs);
  counting = true;
  await sleep(ms);
  counting = false;
  for (const s of socks) s.destroy();
  return reads;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function withAgent(budget: number, run: (agent: RunningAgent, port: number) => Promise<void>, share = "connection"): Promise<void> {
  const upstream = await bulkServer();
  const agent = await startAgent({ linkWriteBudget: budget, proxies: [{ name: "bulk", listen: "127.0.0.1:0", upstream: upstream.address }] });
  const ctl = await RawRpc.open(agent.url);
  try {
    await ctl.ok("impair.apply", { proxy: "bulk", profile: "clean", set: { "down.bandwidth": "2Mbps", share } });
    await run(agent, Number(agent.agent.proxyInfo("bulk").listen.split(":")[1]));
  } finally {
    ctl.close();
    await agent.close();
    await upstream.close();
  }
}

test("above the write budget a 2 Mbps link hands its segments over several to a read, at the same rate; the gauge says so", async () => {
  // 3 connections make about 510 writes a second unmoderated: a budget of 100 merges ceil(5.1) = 6
  await withAgent(100, async (agent, port) => {
    const reads = await download(port, 1500, 2000);
    const text = await scrape(agent.httpUrl);
    const perWrite = Number(/^netimpair_link_segments_per_write (\S+)$/m.exec(text)?.[1]);
    assert.ok(perWrite >= 4 && perWrite <= 8, `segments per write ${perWrite}`);
    for (const r of reads) {
      const mbps = (r.bytes * 8) / 2 / 1e6;
      assert.ok(mbps > 0.85 * (BPS / 1e6) && mbps < 1.2 * (BPS / 1e6), `rate ${mbps} Mbps`);
      // a read holds at least 3 segments at the median (a write of up to 6, never more than 100 ms of the link)
      assert.ok(median(r.sizes) >= 3 * SEGMENT, `median read ${median(r.sizes)} bytes of ${r.sizes.length} reads`);
      assert.ok(Math.max(...r.sizes) <= Math.ceil(0.1 * (BPS / 8)) + 2 * SEGMENT, `largest read ${Math.max(...r.sizes)}`);
    }
  });
});

test("with a budget of 0 (never moderate) the same downloads arrive segment by segment", async () => {
  await withAgent(0, async (agent, port) => {
    const reads = await download(port, 1500, 2000);
    const text = await scrape(agent.httpUrl);
    assert.equal(Number(/^netimpair_link_segments_per_write (\S+)$/m.exec(text)?.[1]), 1);
    for (const r of reads) {
      const mbps = (r.bytes * 8) / 2 / 1e6;
      assert.ok(mbps > 0.85 * (BPS / 1e6) && mbps < 1.2 * (BPS / 1e6), `rate ${mbps} Mbps`);
      // most reads are one segment; a late timer or a busy receiver now and then finds two
      // (moderated, the same downloads read at least three at the median)
      assert.ok(median(r.sizes) <= 2 * SEGMENT, `median read ${median(r.sizes)} bytes of ${r.sizes.length} reads`);
      assert.ok(r.sizes.length >= 0.5 * (r.bytes / SEGMENT), `${r.sizes.length} reads for ${r.bytes} bytes`);
    }
  });
});

test("on a link the connections share (share: client), moderation merges a member's turns: each still gets its share, in fewer reads", async () => {
  // one 2 Mbps link for the three: 171 writes a second unmoderated, a budget of 50 merges 4
  await withAgent(
    50,
    async (_agent, port) => {
      const reads = await download(port, 1500, 2000);
      for (const r of reads) {
        const mbps = (r.bytes * 8) / 2 / 1e6;
        const share = BPS / 1e6 / CONNS;
        assert.ok(mbps > 0.8 * share && mbps < 1.25 * share, `rate ${mbps} Mbps of a ${share} share`);
        assert.ok(median(r.sizes) >= 2 * SEGMENT, `median read ${median(r.sizes)} bytes of ${r.sizes.length} reads`);
      }
    },
    "client",
  );
});

test("a clear while runs are held for their members' turns leaves nothing queued: the downloads go on unshaped", async () => {
  await withAgent(
    50,
    async (agent, port) => {
      const upstreamBytes = download(port, 1500, 2500);
      await sleep(1500); // moderating, runs held on the shared link
      const before = await scrape(agent.httpUrl);
      assert.ok(Number(/^netimpair_link_segments_per_write (\S+)$/m.exec(before)?.[1]) > 1, "moderating");
      const ctl = await RawRpc.open(agent.url);
      try {
        await ctl.ok("impair.clear", { proxy: "bulk" });
      } finally {
        ctl.close();
      }
      await sleep(700);
      const after = await scrape(agent.httpUrl);
      assert.equal(Number(/^netimpair_queue_bytes\{proxy="bulk",direction="down"\} (\S+)$/m.exec(after)?.[1]), 0, "nothing held in a link");
      const reads = await upstreamBytes;
      // unshaped for most of the window: far above the 0.67 Mbps share each had
      for (const r of reads) assert.ok((r.bytes * 8) / 2.5 / 1e6 > 10, `rate after the clear ${(r.bytes * 8) / 2.5 / 1e6} Mbps`);
    },
    "client",
  );
});

test("while the agent moderates, a lone 64-byte ping on another connection of the proxy is not held for others: its round trip stays near the bare one", async () => {
  await withAgent(100, async (_agent, port) => {
    const bulk = download(port, 1500, 1000);
    await sleep(1200); // moderating by now (the first measure ends after 0.5 s)
    const s = await dial(port);
    try {
      s.write("p");
      await readBytes(s, 1);
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        s.write("p");
        await readBytes(s, 1);
        times.push(performance.now() - t0);
      }
      // a byte down a 2 Mbps link: 4 us of serialization; merged with nothing, it is not held
      // for a run (that would be up to 6 segments' time, 35 ms)
      assert.ok(median(times) < 15, `ping rtt median ${median(times)} ms`);
    } finally {
      s.destroy();
      await bulk;
    }
  });
});
