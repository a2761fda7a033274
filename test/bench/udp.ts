// 9. UDP proxy: loss, delay and bandwidth measured against the configuration over real datagrams
// through `netimpair agent` (its own process), each against a clean baseline measured in the same
// run; then a flood of distinct source ports and the agent's memory under it.
// Goals: loss within 1 % absolute over 100,000 datagrams, delay p50 within 1 ms, bandwidth within
// 2 %, memory bounded by udpMaxFlows (the flows stay at most 1024 and the RSS does not grow with the flood).
import dgram, { type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import type { BenchContext } from "./lib/context.js";
import type { Row } from "./lib/report.js";
import { round } from "./lib/stats.js";
import { connectToCliAgent, spawnCliAgent } from "../support/cli-agent.js";
import type { ControlClient } from "../../src/control/client.js";
import { metric } from "../support/prometheus.js";

async function socket(onMessage?: (msg: Buffer) => void): Promise<Socket> {
  const s = dgram.createSocket("udp4");
  if (onMessage) s.on("message", onMessage);
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", () => resolve()));
  try {
    s.setRecvBufferSize(16 * 1024 * 1024);
    s.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // the kernel's limit
  }
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function send(s: Socket, buf: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => s.send(buf, port, "127.0.0.1", (err) => (err ? reject(err) : resolve())));
}

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
}

async function stats(ctl: ControlClient, name: string) {
  return (await ctl.proxies()).find((p) => p.name === name)!.stats.datagrams!;
}

export async function udp(ctx: BenchContext): Promise<void> {
  let sinkCount = 0;
  let sinkBytes = 0;
  let sinkFirst = 0;
  let sinkLast = 0;
  const sink = await socket((m) => {
    const now = performance.now();
    if (sinkCount === 0) sinkFirst = now;
    sinkLast = now;
    sinkCount++;
    sinkBytes += m.length;
  });
  const echo = await socket();
  echo.on("message", (m, r) => echo.send(m, r.port, r.address));
  const agent = await spawnCliAgent({
    args: ["--proxy", `sink=127.0.0.1:0,127.0.0.1:${sink.address().port},udp`, "--proxy", `echo=127.0.0.1:0,127.0.0.1:${echo.address().port},udp`],
    logLevel: "warn",
    captureLogs: false,
  });
  const ctl = await connectToCliAgent(agent, { bindToSession: false });
  const rows: Row[] = [];
  try {
    // ---- loss: N datagrams, paced so no socket buffer overflows; the agent's own in-count is the base
    const total = ctx.quick ? 20_000 : 100_000;
    for (const loss of [0, 0.05, 0.3]) {
      await ctl.apply("sink", undefined, loss === 0 ? { spec: {} } : { spec: { up: { loss } } });
      const client = await socket();
      const before = await stats(ctl, "sink");
      sinkCount = 0;
      const payload = Buffer.alloc(64, 0x6d);
      for (let i = 0; i < total; i++) {
        await send(client, payload, agent.port("sink"));
        if (i % 50 === 49) await sleep(1);
      }
      await sleep(500);
      const after = await stats(ctl, "sink");
      const seen = after.up.in - before.up.in;
      const measured = 1 - sinkCount / seen;
      const err = (measured - loss) * 100;
      rows.push({ what: `loss ${loss * 100} %`, datagrams: seen, configured: `${loss * 100} %`, measured: `${round(measured * 100, 2)} %`, error: `${round(err, 2)} % abs`, goal: Math.abs(err) <= 1 ? "ok" : "MISSED" });
      client.close();
    }
    // ---- delay: sequential pings through the echo, clean then 20 ms up + 20 ms down
    const pings = ctx.quick ? 200 : 1000;
    const p50 = async (): Promise<number> => {
      const client = await socket();
      const rtts: number[] = [];
      let resolveOne: (() => void) | null = null;
      client.on("message", () => resolveOne?.());
      for (let i = 0; i < pings; i++) {
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          resolveOne = resolve;
          client.send(Buffer.from("ping"), agent.port("echo"), "127.0.0.1");
          setTimeout(resolve, 1000);
        });
        rtts.push(performance.now() - t0);
      }
      client.close();
      rtts.sort((a, b) => a - b);
      return rtts[Math.floor(rtts.length / 2)]!;
    };
    await ctl.apply("echo", undefined, { spec: {} });
    const base = await p50();
    await ctl.apply("echo", undefined, { spec: { up: { delay: "20ms" }, down: { delay: "20ms" } } });
    const delayed = await p50();
    const added = delayed - base;
    rows.push({ what: "delay 20 ms each way", datagrams: pings, configured: "40 ms rtt", measured: `${round(added, 2)} ms (p50 rtt ${round(delayed, 2)} - clean ${round(base, 2)})`, error: `${round(added - 40, 2)} ms`, goal: Math.abs(added - 40) <= 1 ? "ok" : "MISSED" });
    // ---- bandwidth: offered at 1.5x the rate for a few seconds; the sink's rate while saturated
    for (const bps of [2_000_000, 8_000_000]) {
      await ctl.apply("sink", undefined, { spec: { up: { bandwidth: bps } } });
      const client = await socket();
      sinkCount = 0;
      sinkBytes = 0;
      const size = 1000;
      const seconds = ctx.quick ? 2 : 4;
      const perMs = (bps * 1.5) / 8 / size / 1000;
      const start = performance.now();
      let sent = 0;
      while (performance.now() - start < seconds * 1000) {
        const due = Math.floor((performance.now() - start) * perMs);
        while (sent < due) {
          await send(client, Buffer.alloc(size, 0x62), agent.port("sink"));
          sent++;
        }
        await sleep(1);
      }
      await sleep(1500);
      const rate = ((sinkBytes - size) * 8) / ((sinkLast - sinkFirst) / 1000);
      const err = ((rate - bps) / bps) * 100;
      const s = await stats(ctl, "sink");
      rows.push({ what: `bandwidth ${bps / 1e6} Mbps`, datagrams: sent, configured: `${bps / 1e6} Mbps`, measured: `${round(rate / 1e6, 3)} Mbps (tail drops so far ${s.up.dropped.queue})`, error: `${round(err, 2)} %`, goal: Math.abs(err) <= 2 ? "ok" : "MISSED" });
      client.close();
    }
    await ctl.clear("sink");
    await ctl.clear("echo");
    // ---- flood: distinct source ports, one datagram each; flows are bounded by udpMaxFlows (1024)
    const ports = ctx.quick ? 20_000 : 100_000;
    const pid = agent.child.pid!;
    const heapUsed = async (): Promise<number> => metric(await (await fetch(`${agent.httpUrl}/metrics`)).text(), "nodejs_heap_size_used_bytes");
    const heapBefore = await heapUsed();
    const rssBefore = rssOf(pid);
    let rssPeak = rssBefore;
    const batch = 500;
    for (let i = 0; i < ports; i += batch) {
      const socks = await Promise.all(Array.from({ length: Math.min(batch, ports - i) }, () => socket()));
      await Promise.all(socks.map((s) => send(s, Buffer.from("flood"), agent.port("echo"))));
      await sleep(5);
      await Promise.all(socks.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      if ((i / batch) % 10 === 0) rssPeak = Math.max(rssPeak, rssOf(pid));
    }
    await sleep(500);
    rssPeak = Math.max(rssPeak, rssOf(pid));
    const flood = await stats(ctl, "echo");
    const grown = (rssPeak - rssBefore) / 1024 / 1024;
    // what the agent holds once the flood is over: the heap in use (garbage collected by then)
    await sleep(3000);
    const held = ((await heapUsed()) - heapBefore) / 1024 / 1024;
    rows.push({
      what: `flood of ${ports} source ports`,
      datagrams: flood.up.in,
      configured: "udpMaxFlows 1024",
      measured: `${flood.flowsActive} flows now, ${flood.flowsEvicted} evicted; rss ${round(rssBefore / 1048576, 1)} -> peak ${round(rssPeak / 1048576, 1)} MiB (+${round(grown, 1)})`,
      error: `heap held +${round(held, 1)} MiB`,
      goal: flood.flowsActive <= 1024 && held <= 16 ? "ok" : "MISSED",
    });
  } finally {
    await ctl.close();
    await agent.stop();
    sink.close();
    echo.close();
  }
  ctx.results.table("udp", {
    title: "9. UDP proxy through `netimpair agent`: loss, delay, bandwidth against the configuration; a flood of source ports",
    columns: ["what", "datagrams", "configured", "measured", "error", "goal"],
    rows,
    notes: [
      "loss: 1 - arrived / datagrams the agent received (its own count, so a kernel buffer drop is not counted as link loss); goal within 1 % absolute",
      "delay: p50 of sequential 4-byte echoes with 20 ms each way, minus the clean p50 measured in the same run; goal within 1 ms",
      "bandwidth: 1000-byte datagrams offered at 1.5x the rate; the sink's rate from its first to its last arrival (payload bytes; over the bound the tail drops); goal within 2 %",
      "flood: one datagram from each of N sockets (500 open at a time; datagrams = what the agent's socket took, the kernel drops the rest of a burst); flows stay at most udpMaxFlows, the idle longest evicted",
      "memory: heap held = the agent's heap in use 3 s after the flood minus before it (goal <= 16 MiB: 1024 flows' state, nothing per evicted flow); peak RSS shows the garbage of the churn before collection",
    ],
  });
}
