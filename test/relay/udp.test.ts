// The udp proxy in front of a UDP echo and a statsd-like sink: datagrams pass as they came; loss
// is a real drop, jitter reorders, duplicate copies, a bandwidth over its queue bound drops the
// tail; flows close when idle and are bounded in number; shared links bind flows together.
// Tolerances hold on 2 loaded cores; the precise figures are in `npm run bench -- udp`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect, startAgent, type ControlClient, type RunningAgent } from "../../src/index.js";
import type { DatagramStats } from "../../src/control/protocol.js";
import { parseHostPort } from "../../src/relay/address.js";
import { metric } from "../support/prometheus.js";
import { sendPaced, settle, udpClient, udpEcho, udpSink, waitFor, type UdpPeer } from "../support/udp-peers.js";

describe("udp proxy", () => {
  let echo: UdpPeer;
  let sink: Awaited<ReturnType<typeof udpSink>>;
  let agent: RunningAgent;
  let ctl: ControlClient;
  const ports: Record<string, number> = {};

  before(async () => {
    echo = await udpEcho();
    sink = await udpSink();
    agent = await startAgent({
      control: "127.0.0.1:0",
      proxies: [
        { name: "echo", listen: "127.0.0.1:0", upstream: `127.0.0.1:${echo.port}`, protocol: "udp" },
        { name: "sink", listen: "127.0.0.1:0", upstream: `127.0.0.1:${sink.port}`, protocol: "udp" },
        { name: "small", listen: "127.0.0.1:0", upstream: `127.0.0.1:${echo.port}`, protocol: "udp", udpIdleMs: 300, udpMaxFlows: 20 },
        { name: "tcp", listen: "127.0.0.1:0", upstream: "127.0.0.1:9", protocol: "tcp" },
      ],
    });
    ctl = await connect(agent.url);
    for (const p of await ctl.proxies()) {
      const hp = parseHostPort(p.listen);
      assert.ok(typeof hp !== "string");
      ports[p.name] = hp.port;
    }
  });
  after(async () => {
    await ctl?.close();
    await agent?.close();
    await echo?.close();
    await sink?.close();
  });

  const datagrams = async (name: string): Promise<DatagramStats> => {
    const p = (await ctl.proxies()).find((x) => x.name === name)!;
    assert.ok(p.stats.datagrams, `${name} has datagram stats`);
    return p.stats.datagrams;
  };

  it("echoes datagrams as they came, one flow per client address:port, shown as a connection", async () => {
    const a = await udpClient();
    const b = await udpClient();
    try {
      await sendPaced(a.socket, ports.echo!, 100, (i) => Buffer.from(`a-${i}-${"x".repeat(i)}`));
      await sendPaced(b.socket, ports.echo!, 10, (i) => Buffer.from(`b-${i}`));
      assert.ok(await waitFor(() => a.received.length === 100 && b.received.length === 10), `${a.received.length} and ${b.received.length} came back`);
      assert.deepEqual(a.received.map((r) => r.text).sort(), Array.from({ length: 100 }, (_, i) => `a-${i}-${"x".repeat(i)}`.slice(0, 64)).sort());
      const conns = await ctl.connections("echo");
      const flowA = conns.find((c) => c.client === `127.0.0.1:${a.port}`);
      const flowB = conns.find((c) => c.client === `127.0.0.1:${b.port}`);
      assert.ok(flowA && flowB, JSON.stringify(conns));
      assert.equal(flowA.transport, "udp");
      assert.equal(flowA.datagramsUp, 100);
      assert.equal(flowA.datagramsDown, 100);
      const s = await datagrams("echo");
      assert.ok(s.flowsActive >= 2 && s.up.in >= 110 && s.down.out >= 110, JSON.stringify(s));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("loss drops datagrams for real (none come late), counted by cause", async () => {
    const before = (await datagrams("sink")).up;
    const got = sink.arrivals.length;
    const c = await udpClient();
    await ctl.apply("sink", undefined, { spec: { up: { loss: "30%" } } });
    try {
      await sendPaced(c.socket, ports.sink!, 3000, (i) => Buffer.from(`loss.metric:${i}|c`));
      await settle(() => sink.arrivals.length);
      const after = (await datagrams("sink")).up;
      const seen = after.in - before.in;
      const arrived = sink.arrivals.length - got;
      const dropped = after.dropped.loss - before.dropped.loss;
      assert.equal(arrived + dropped, seen, `every datagram the agent saw either arrived or was dropped: ${arrived} + ${dropped} vs ${seen}`);
      const share = dropped / seen;
      assert.ok(Math.abs(share - 0.3) < 0.06, `lost ${(share * 100).toFixed(1)} % of ${seen} (30 % asked)`);
      const text = await (await fetch(`${agent.url.replace(/^ws/, "http").replace(/\/control$/, "")}/metrics`)).text();
      assert.equal(metric(text, "netimpair_datagrams_dropped_total", 'proxy="sink",direction="up",cause="loss"'), after.dropped.loss);
      assert.equal(metric(text, "netimpair_datagrams_total", 'proxy="sink",direction="up",outcome="in"'), after.in);
    } finally {
      await ctl.clear("sink");
      await c.close();
    }
  });

  it("delay holds each datagram in both directions", async () => {
    const c = await udpClient();
    await ctl.apply("echo", undefined, { spec: { up: { delay: "40ms" }, down: { delay: "40ms" } } });
    try {
      const rtts: number[] = [];
      for (let i = 0; i < 15; i++) {
        const t0 = performance.now();
        const n = c.received.length;
        c.socket.send(Buffer.from(`ping-${i}`), ports.echo!, "127.0.0.1");
        assert.ok(await waitFor(() => c.received.length > n, 5000, 2));
        rtts.push(c.received[c.received.length - 1]!.at - t0);
      }
      rtts.sort((x, y) => x - y);
      assert.ok(rtts[0]! >= 79, `no round trip under 80 ms: ${rtts[0]!.toFixed(1)}`);
      assert.ok(rtts[7]! < 160, `median round trip ${rtts[7]!.toFixed(1)} ms (80 asked)`);
    } finally {
      await ctl.clear("echo");
      await c.close();
    }
  });

  it("jitter reorders datagrams (none lost); duplicate sends second copies", async () => {
    const c = await udpClient();
    let got = sink.arrivals.length;
    await ctl.apply("sink", undefined, { spec: { up: { delay: "20ms", jitter: "20ms" } } });
    try {
      await sendPaced(c.socket, ports.sink!, 400, (i) => Buffer.from(`seq:${i}`), 20, 1);
      assert.ok(await waitFor(() => sink.arrivals.length - got >= 400), `all 400 arrived (${sink.arrivals.length - got})`);
      const order = sink.arrivals.slice(got).map((a) => Number(a.text.split(":")[1]));
      let inversions = 0;
      for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) inversions++;
      assert.ok(inversions >= 10, `datagrams arrived out of order ${inversions} times`);
      assert.deepEqual([...order].sort((x, y) => x - y), Array.from({ length: 400 }, (_, i) => i));
    } finally {
      await ctl.clear("sink");
    }
    const before = (await datagrams("sink")).up;
    got = sink.arrivals.length;
    await ctl.apply("sink", undefined, { spec: { up: { duplicate: "50%" } } });
    try {
      await sendPaced(c.socket, ports.sink!, 2000, (i) => Buffer.from(`dup:${i}`));
      await settle(() => sink.arrivals.length);
      const after = (await datagrams("sink")).up;
      const seen = after.in - before.in;
      const copies = after.duplicated - before.duplicated;
      const arrived = sink.arrivals.length - got;
      assert.equal(arrived, seen + copies, `each datagram and each copy arrived: ${arrived} vs ${seen} + ${copies}`);
      assert.ok(Math.abs(copies / seen - 0.5) < 0.06, `${copies} copies of ${seen} (50 % asked)`);
    } finally {
      await ctl.clear("sink");
      await c.close();
    }
  });

  it("bandwidth paces datagrams and drops the tail over the queue bound", async () => {
    const c = await udpClient();
    const before = (await datagrams("sink")).up;
    const got = sink.arrivals.length;
    // 800 kbit/s = 100 kB/s; the bound is 64 KiB (at least): a 400 kB burst mostly drops
    await ctl.apply("sink", undefined, { spec: { up: { bandwidth: "800kbps" } } });
    try {
      const t0 = performance.now();
      await sendPaced(c.socket, ports.sink!, 400, () => Buffer.alloc(1000, 0x61), 25, 1);
      const sendMs = performance.now() - t0;
      await settle(() => sink.arrivals.length, 400);
      const after = (await datagrams("sink")).up;
      const arrivals = sink.arrivals.slice(got);
      const bytes = arrivals.reduce((n, a) => n + a.bytes, 0);
      const tail = after.dropped.queue - before.dropped.queue;
      assert.ok(tail > 0, `tail drops counted (${tail})`);
      assert.equal(arrivals.length + tail, after.in - before.in, "every datagram arrived or was tail-dropped");
      const allowed = 65536 + 100_000 * (sendMs / 1000) + 5000;
      assert.ok(bytes <= allowed, `${bytes} bytes crossed: at most the bound plus what the rate let through while sending (${allowed.toFixed(0)})`);
      // paced: 60 kB sent at once (under the bound) leave at the link's rate
      const from = sink.arrivals.length;
      await sendPaced(c.socket, ports.sink!, 60, () => Buffer.alloc(1000, 0x62), 60, 0);
      await settle(() => sink.arrivals.length, 300);
      const paced = sink.arrivals.slice(from);
      assert.equal(paced.length, 60, `under the bound nothing drops (${paced.length} of 60 arrived)`);
      const spanMs = paced[paced.length - 1]!.at - paced[0]!.at;
      const rate = (59_000 / spanMs) * 1000;
      assert.ok(rate > 75_000 && rate < 115_000, `delivered at ${(rate / 1000).toFixed(1)} kB/s (100 asked)`);
    } finally {
      await ctl.clear("sink");
      await c.close();
    }
  });

  it("a shared link (share: proxy) gives two flows one bandwidth; share: connection gives each its own", async () => {
    const rateOf = async (share: string): Promise<number> => {
      const a = await udpClient();
      const b = await udpClient();
      const got = sink.arrivals.length;
      await ctl.apply("sink", undefined, { spec: { share, queue: "fifo", up: { bandwidth: "800kbps" } } });
      try {
        // each sends 30 kB (together under the 64 KiB bound): alone at 100 kB/s that is 0.3 s
        await Promise.all([sendPaced(a.socket, ports.sink!, 30, () => Buffer.alloc(1000, 0x62), 10, 1), sendPaced(b.socket, ports.sink!, 30, () => Buffer.alloc(1000, 0x63), 10, 1)]);
        await settle(() => sink.arrivals.length, 300);
        const arrivals = sink.arrivals.slice(got);
        assert.equal(arrivals.length, 60, `all arrived with share ${share}`);
        const spanMs = arrivals[arrivals.length - 1]!.at - arrivals[0]!.at;
        return ((arrivals.length - 1) * 1000) / (spanMs / 1000);
      } finally {
        await ctl.clear("sink");
        await a.close();
        await b.close();
      }
    };
    const shared = await rateOf("proxy");
    const own = await rateOf("connection");
    assert.ok(shared < 120_000, `two flows on one shared link: ${(shared / 1000).toFixed(0)} kB/s together (100 asked)`);
    assert.ok(own > 150_000, `two flows with a link each: ${(own / 1000).toFixed(0)} kB/s together (200 asked)`);
  });

  it("closes idle flows after udpIdle and evicts the flow idle the longest beyond udpMaxFlows", async () => {
    const first = await udpClient();
    first.socket.send(Buffer.from("hello"), ports.small!, "127.0.0.1");
    assert.ok(await waitFor(() => first.received.length === 1));
    assert.equal((await ctl.connections("small")).length, 1);
    assert.ok(await waitFor(() => false, 900) === false);
    assert.equal((await ctl.connections("small")).length, 0, "closed after 300 ms without a datagram");
    // 60 clients, 20 flows at most: the oldest make room, the newest are served
    const clients = await Promise.all(Array.from({ length: 60 }, () => udpClient()));
    try {
      for (const c of clients) {
        c.socket.send(Buffer.from("x"), ports.small!, "127.0.0.1");
        await new Promise((r) => setTimeout(r, 2));
      }
      assert.ok(await waitFor(() => clients.slice(-20).every((c) => c.received.length === 1)), "the last 20 clients got their echo");
      const s = await datagrams("small");
      assert.ok(s.flowsActive <= 20, `${s.flowsActive} flows at most 20`);
      assert.ok(s.flowsEvicted >= 40, `${s.flowsEvicted} evicted`);
      const listed = new Set((await ctl.connections("small")).map((c) => c.client));
      for (const c of clients.slice(-10)) assert.ok(listed.has(`127.0.0.1:${c.port}`), "a recent flow is kept");
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await first.close();
    }
  });

  it("refuses TCP-only faults on a udp proxy and duplicate on a tcp proxy, naming the field", async () => {
    for (const [field, value] of [["reset", { probability: 1 }], ["halfOpen", { probability: 1 }], ["slowClose", { delay: "1s" }], ["limit", { bytes: "1KB" }], ["connect", { delay: "1s" }]] as const) {
      await assert.rejects(ctl.apply("echo", undefined, { spec: { [field]: value } }), (err: Error & { data?: unknown }) => {
        assert.match(JSON.stringify(err.data ?? err.message), new RegExp(`"params\\.${field}".*only means something on a TCP connection`));
        return true;
      });
    }
    await assert.rejects(ctl.apply("tcp", undefined, { spec: { down: { duplicate: "5%" } } }), (err: Error & { data?: unknown }) => {
      assert.match(JSON.stringify(err.data ?? err.message), /"params\.down\.duplicate".*udp and dns proxies only/);
      return true;
    });
    await assert.rejects(ctl.apply("echo", undefined, { spec: { requests: [{ match: {}, fail: "SERVFAIL" }] } }), /request rules need a protocol/);
    // nothing was applied and the proxy still echoes
    assert.equal((await ctl.proxies()).find((p) => p.name === "echo")!.impairment, null);
    const c = await udpClient();
    c.socket.send(Buffer.from("still"), ports.echo!, "127.0.0.1");
    assert.ok(await waitFor(() => c.received.length === 1));
    await c.close();
  });
});
