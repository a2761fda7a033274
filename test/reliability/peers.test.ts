// Peers misbehaving, all at once, against an agent in its own process: an upstream that
// refuses, one that accepts and never answers, one that resets mid-stream, one that trickles a
// byte a second, and 1 GiB offered into clients that never read (fast path and through a link).
// Meanwhile a healthy proxy carries data byte for byte, control round trips stay under 50 ms,
// and the agent's memory stays bounded (backpressure, not buffering).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { connect, type ControlClient } from "../../src/index.js";
import { spawnAgent, MiB, type AgentProcess, type ChildProbe } from "../support/agent-process.js";
import { firehoseUpstream, resettingUpstream, silentUpstream, tricklingUpstream } from "../support/bad-peers.js";
import { churn } from "../support/churn.js";
import { closedPort } from "../support/cli.js";
import { dial, echoServer, readBytes } from "../support/net.js";

const GiB = 1024 * MiB;
const RUN_MS = 12_000;
const RSS_BOUND = 96 * MiB;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function echoRoundTrip(agent: AgentProcess, bytes: number): Promise<void> {
  const s = await dial(agent.port("good"));
  const payload = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) payload[i] = (i * 131 + 17) & 0xff;
  s.write(payload);
  const back = await readBytes(s, bytes, 20_000);
  s.destroy();
  assert.ok(back.equals(payload), "the healthy proxy carries bytes unchanged");
}

test("misbehaving peers do not make the agent the outage: other proxies and control stay fast, memory bounded", { timeout: 120_000 }, async () => {
  const echo = await echoServer();
  const silent = await silentUpstream();
  const resetter = await resettingUpstream();
  const trickle = await tricklingUpstream(1000);
  const firehose = await firehoseUpstream(GiB);
  const dead = await closedPort();
  const agent = await spawnAgent({
    proxies: [
      { name: "good", listen: "127.0.0.1:0", upstream: echo.address },
      { name: "refuse", listen: "127.0.0.1:0", upstream: `127.0.0.1:${dead}` },
      { name: "silent", listen: "127.0.0.1:0", upstream: silent.address },
      { name: "resetter", listen: "127.0.0.1:0", upstream: resetter.address },
      { name: "trickle", listen: "127.0.0.1:0", upstream: trickle.address },
      { name: "firehose", listen: "127.0.0.1:0", upstream: firehose.address },
      { name: "firehose-link", listen: "127.0.0.1:0", upstream: firehose.address },
    ],
  });
  const held: Socket[] = [];
  let ctl: ControlClient | null = null;
  try {
    ctl = await connect(agent.url, { bindToSession: false });
    // the second firehose goes through a link (delay only: unlimited bandwidth, 4 MiB queue bound)
    await ctl.apply("firehose-link", "clean", { set: { "down.delay": "5ms" } });
    await echoRoundTrip(agent, 64 * 1024);
    const before = await agent.probe({ resetDelay: true });

    // open the bad connections and keep them
    const hold = async (proxy: string, n: number, write?: Buffer): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const s = await dial(agent.port(proxy));
        if (write) s.write(write);
        held.push(s);
      }
    };
    await hold("silent", 50, Buffer.alloc(1024, 1));
    await hold("trickle", 50);
    const readers = held.slice(-50);
    let trickled = 0;
    for (const s of readers) s.on("data", (d: Buffer) => (trickled += d.length));
    await hold("firehose", 4); // never read
    await hold("firehose-link", 4); // never read
    for (const s of held.slice(-8)) s.pause();

    let stop = false;
    const background: Promise<unknown>[] = [];
    // refusals and mid-stream resets, over and over
    const loop = (proxy: string) =>
      (async () => {
        let n = 0;
        while (!stop) n += (await churn({ port: agent.port(proxy), total: 20, concurrency: 5, timeoutMs: 5000 })).total;
        return n;
      })();
    background.push(loop("refuse"), loop("resetter"));
    // the healthy proxy, all along
    let goodRounds = 0;
    background.push(
      (async () => {
        while (!stop) {
          await echoRoundTrip(agent, 256 * 1024);
          goodRounds++;
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
    );
    // control round trips, every 20 ms
    const rtts: number[] = [];
    const peakProbes: ChildProbe[] = [];
    const started = performance.now();
    while (performance.now() - started < RUN_MS) {
      const t0 = performance.now();
      await ctl.info();
      rtts.push(performance.now() - t0);
      if (rtts.length % 100 === 0) peakProbes.push(await agent.probe({ gc: false }));
      await new Promise((r) => setTimeout(r, 20));
    }
    peakProbes.push(await agent.probe({ gc: false }));
    const loopDelay = peakProbes[peakProbes.length - 1]!.eventLoopDelayMs;
    stop = true;
    const [refusals, resets] = (await Promise.all(background)) as [number, number];

    const info = await ctl.info();
    const stats = Object.fromEntries(info.proxies.map((p) => [p.name, p.stats]));
    const sorted = [...rtts].sort((a, b) => a - b);
    const peakRss = Math.max(...peakProbes.map((p) => p.rssBytes));
    const report = {
      seconds: RUN_MS / 1000,
      agentLoopDelayMs: { p50: +loopDelay.p50.toFixed(1), p99: +loopDelay.p99.toFixed(1), max: +loopDelay.max.toFixed(1) },
      controlRttMs: { n: rtts.length, p50: +percentile(sorted, 50).toFixed(2), p99: +percentile(sorted, 99).toFixed(2), max: +sorted[sorted.length - 1]!.toFixed(2) },
      refusals,
      midStreamResets: resets,
      goodRounds,
      trickledBytes: trickled,
      firehoseOfferedMiB: Math.round(GiB / MiB) * 8,
      firehosePushedMiB: Math.round(firehose.pushed() / MiB),
      queuedMiB: Math.round((stats["firehose-link"]!.queueDown / MiB) * 10) / 10,
      rssMiB: { before: Math.round(before.rssBytes / MiB), peak: Math.round(peakRss / MiB) },
    };
    console.log(`misbehaving peers ${JSON.stringify(report)}`);

    assert.ok(goodRounds >= 5, `the healthy proxy kept carrying data (${goodRounds} round trips of 256 KiB)`);
    assert.ok(refusals > 0 && resets > 0, "refusing and resetting upstreams were exercised");
    assert.ok(trickled >= 50 * 5, `trickled bytes arrive (${trickled})`);
    // The machine has 2 cores shared with whatever else runs: the median must be well under
    // 50 ms; tails are reported (with the agent's own event loop delay, to tell the agent's
    // stalls from the machine's) and bounded generously. Idle, the agent answers in ~1 ms.
    assert.ok(report.controlRttMs.p50 < 50, `control round trip median under 50 ms: ${JSON.stringify(report)}`);
    assert.ok(report.controlRttMs.max < 1000, `no control round trip near a stall: ${JSON.stringify(report)}`);
    assert.ok(firehose.pushed() < 256 * MiB, `backpressure held the firehose far below 1 GiB (${report.firehosePushedMiB} MiB)`);
    assert.ok(stats["firehose-link"]!.queueDown <= 4 * 4 * MiB + 4 * 64 * 1024, `link queues stay within their bound (${report.queuedMiB} MiB)`);
    assert.ok(peakRss - before.rssBytes < RSS_BOUND, `agent RSS bounded while 8 clients refuse to read: ${JSON.stringify(report.rssMiB)}`);
    assert.equal(stats.silent!.connectionsActive, 50, "silent upstream connections are kept, not dropped");

    // after: every held connection closed, the agent is back to idle. A client's close reaches
    // a silent upstream as a FIN (a half-close, as TCP has it: the upstream may still answer),
    // so those pairs end when the upstream closes its side, as they would without the agent.
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await ctl.info()).proxies.find((p) => p.name === "silent")!.stats.connectionsActive, 50, "half-closed pairs wait for the silent upstream");
    for (const s of silent.sockets) s.destroy();
    const idle = async () => (await ctl!.info()).proxies.every((p) => p.stats.connectionsActive === 0);
    const deadline = performance.now() + 10_000;
    while (!(await idle()) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(await idle(), `every connection closed once its peers went: ${JSON.stringify((await ctl.info()).proxies.map((p) => [p.name, p.stats.connectionsActive]))}`);
    await echoRoundTrip(agent, 1024 * 1024);
  } finally {
    for (const s of held) s.destroy();
    await ctl?.close();
    await agent.stop();
    await Promise.all([echo.close(), silent.close(), resetter.close(), trickle.close(), firehose.close()]);
  }
});
