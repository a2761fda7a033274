// `netimpair agent` as users start it (the CLI, its own process) moves bulk data without major
// GCs, on its clean path and through a link. Guard for issue 12: reading into a fresh buffer per
// read made the CLI agent mark-compact 20-25 times per GiB (its heap is above V8's
// incremental-marking threshold); reading into reusable buffers (src/relay/reader.ts) makes it
// 0. Guard for issue 27: a link copied each chunk it queued out of the read buffer (27 major GCs
// per GB); it now borrows the buffer and gives it back once written, and the pool keeps room for
// the buffers links held lately (a 20 ms link: 1-6 per GB before that). Counts, not timings: the
// bound holds on a loaded machine, only the run gets slower.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { httpGet } from "../support/agent-process.js";
import { connectToCliAgent, spawnCliAgent } from "../support/cli-agent.js";
import { metric } from "../support/prometheus.js";
import { dial, sleep, startServer } from "../support/net.js";

const VOLUME = 2 ** 30; // 1 GiB
/** Major GCs allowed while 1 GiB passes; before the fixes: 20-25 (clean), 27-29 (a link). */
const MAX_MAJOR_GCS = 4;

/** A link in the path each way that shapes (1 Gbps, 1 ms delay): every chunk is queued and timed. */
const LINK = { share: "connection", up: { bandwidth: "1Gbps", delay: "1ms" }, down: { bandwidth: "1Gbps", delay: "1ms" } };
/**
 * Delay alone, 20 ms each way: the link holds up to 4 MiB (64 read buffers) at a time, a number
 * that swings with the sender's bursts; the pool keeps room for the most it held lately, so the
 * buffers coming back are reused, not dropped and allocated again.
 */
const DELAY_LINK = { share: "connection", up: { delay: "20ms" }, down: { delay: "20ms" } };

/** Writes `total` bytes (one reused 64 KiB chunk) with backpressure, then ends. */
function pump(s: Socket, total: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let sent = 0;
  return new Promise((resolve, reject) => {
    const more = (): void => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return;
      }
      s.off("drain", more);
      s.end();
      resolve();
    };
    s.on("drain", more);
    s.once("close", () => (sent < total ? reject(new Error(`closed after ${sent} of ${total} bytes`)) : undefined));
    more();
  });
}

async function moveOneGiB(link: Record<string, unknown> | null, maxMajorGcs = MAX_MAJOR_GCS): Promise<void> {
  let received = 0;
  let upstreamEnded!: () => void;
  const ended = new Promise<void>((resolve) => (upstreamEnded = resolve));
  const sink = await startServer((s) => {
    s.on("data", (c: Buffer) => (received += c.length));
    s.on("end", () => {
      s.end();
      upstreamEnded();
    });
  });
  const agent = await spawnCliAgent({ args: ["--proxy", `bulk=127.0.0.1:0,${sink.address}`], logLevel: null, captureLogs: false });
  try {
    if (link !== null) {
      const control = await connectToCliAgent(agent, { bindToSession: false });
      await control.call("impair.apply", { proxy: "bulk", spec: link });
      await control.close();
    }
    // a first connection warms the agent (JIT, socket buffers) before the count starts
    const warm = await dial(agent.port("bulk"));
    await pump(warm, 64 * 2 ** 20);
    await ended;
    warm.destroy();
    received = 0;
    const done = new Promise<void>((resolve) => (upstreamEnded = resolve));
    await sleep(200); // GC entries reach prom-client's observer asynchronously
    const before = await httpGet(`${agent.httpUrl}/metrics`);
    const majorBefore = metric(before, "nodejs_gc_duration_seconds_count", 'kind="major"');
    const bytesBefore = metric(before, "netimpair_bytes_total", 'proxy="bulk",direction="up"');

    const t0 = performance.now();
    const s = await dial(agent.port("bulk"));
    await pump(s, VOLUME);
    await done;
    const seconds = (performance.now() - t0) / 1000;
    s.destroy();
    await sleep(200);
    const after = await httpGet(`${agent.httpUrl}/metrics`);
    const majors = metric(after, "nodejs_gc_duration_seconds_count", 'kind="major"') - majorBefore;
    const minors = metric(after, "nodejs_gc_duration_seconds_count", 'kind="minor"') - metric(before, "nodejs_gc_duration_seconds_count", 'kind="minor"');
    console.log(`# 1 GiB through the CLI agent (${link === null ? "clean" : JSON.stringify(link.up)}) in ${seconds.toFixed(2)} s: ${majors} major GC(s), ${minors} minor`);
    assert.equal(received, VOLUME, "the upstream got every byte");
    assert.equal(metric(after, "netimpair_bytes_total", 'proxy="bulk",direction="up"') - bytesBefore, VOLUME);
    assert.ok(majors <= maxMajorGcs, `${majors} major GCs while 1 GiB passed (at most ${maxMajorGcs})`);
  } finally {
    await agent.stop();
    await sink.close();
  }
}

test("netimpair agent (CLI) moves 1 GiB on its clean path with at most 4 major GCs (nodejs_gc_duration_seconds_count{kind=major})", async () => {
  await moveOneGiB(null);
});

test("netimpair agent (CLI) moves 1 GiB through a 1 Gbps, 1 ms link with at most 4 major GCs", async () => {
  await moveOneGiB(LINK);
});

test("netimpair agent (CLI) moves 1 GiB through a 20 ms link (delay only, each way) with at most 1 major GC", async () => {
  await moveOneGiB(DELAY_LINK, 1);
});
