// 4. Shaping cost: CPU of the relay process (its own process, process.cpuUsage()) while one
// connection runs flat out through a shaped link with 50 ms delay and 10 ms jitter, at 10 and
// 100 Mbps, one way and both ways. Goal: <= 15 % of one core at 100 Mbps.
import { cleanSpec, type ImpairmentSpec } from "../../src/profiles/types.js";
import { formatBandwidth } from "../../src/units.js";
import type { BenchContext } from "./lib/context.js";
import { Upstream } from "./lib/link-probe.js";
import { startRelay } from "./lib/relay.js";
import type { Row } from "./lib/report.js";
import { bulkWriter, pacedWriter, sleep } from "./lib/sockets.js";
import { round } from "./lib/stats.js";

const DELAY_MS = 50;
const JITTER_MS = 10;
const GOAL_PCT = 15;

function shapedSpec(bps: number): ImpairmentSpec {
  const s = cleanSpec();
  for (const d of [s.up, s.down]) {
    d.bandwidth = bps;
    d.delay = DELAY_MS;
    d.jitter = JITTER_MS;
    d.jitterDistribution = "uniform";
  }
  return s;
}

interface Case {
  bps: number;
  both: boolean;
  /** a bare relay with the sender paced at bps instead of a shaped netimpair link: the cost of relaying that rate at all */
  baseline?: boolean;
  /** which netimpair shapes: the engine alone, or `netimpair agent` (default) */
  relay?: "engine" | "agent";
}

async function measure(c: Case, windowMs: number): Promise<Row> {
  const upstream = await Upstream.start();
  const relay = c.baseline ? await startRelay("bare", upstream.port) : await startRelay(c.relay ?? "agent", upstream.port, shapedSpec(c.bps));
  try {
    const pair = await upstream.pair(relay.port);
    let upBytes = 0;
    let downBytes = 0;
    pair.server.on("data", (b: Buffer) => (upBytes += b.length));
    pair.client.on("data", (b: Buffer) => (downBytes += b.length));
    const chunk = Buffer.alloc(64 * 1024, 0x33);
    const writers = c.baseline ? [pacedWriter(pair.client, c.bps)] : [bulkWriter(pair.client, chunk)];
    if (c.both) writers.push(c.baseline ? pacedWriter(pair.server, c.bps) : bulkWriter(pair.server, chunk));
    await sleep(1000); // past the delay, queues full, steady state
    const u0 = (await relay.usage())!;
    const b0 = upBytes + downBytes;
    const up0 = upBytes;
    const t0 = performance.now();
    await sleep(windowMs);
    const u1 = (await relay.usage())!;
    const seconds = (performance.now() - t0) / 1000;
    const bytes = upBytes + downBytes - b0;
    const upRate = ((upBytes - up0) * 8) / seconds;
    for (const w of writers) w.stop();
    pair.client.destroy();
    pair.server.destroy();
    const cpuPct = ((u1.cpuUs - u0.cpuUs) / 1e6 / seconds) * 100;
    return {
      relay: c.baseline ? "bare relay" : (c.relay ?? "agent"),
      link: c.baseline ? `sender paced ${formatBandwidth(c.bps)}` : `${formatBandwidth(c.bps)} ${DELAY_MS}ms +-${JITTER_MS}ms`,
      traffic: c.both ? "both ways" : "up only",
      "up Mbps": round(upRate / 1e6, 2),
      "total Mbps": round((bytes * 8) / seconds / 1e6, 2),
      "relay CPU %": round(cpuPct, 1),
      "user %": round(((u1.cpuUserUs - u0.cpuUserUs) / 1e6 / seconds) * 100, 1),
      "system %": round(((u1.cpuSystemUs - u0.cpuSystemUs) / 1e6 / seconds) * 100, 1),
      "CPU s/GB": round((u1.cpuUs - u0.cpuUs) / 1e6 / (bytes / 1e9), 2),
      "rss MB": round(u1.rss / 2 ** 20, 1),
 goal: c.bps === 100e6 && !c.baseline && c.relay !== "engine" ? (cpuPct <= GOAL_PCT ? "MET" : "MISSED") : null,
    };
  } finally {
    await relay.stop();
    await upstream.close();
  }
}

export async function shaping(ctx: BenchContext): Promise<void> {
  const windowMs = ctx.quick ? 2000 : 5000;
  const cases: Case[] = [
    { bps: 10e6, both: false },
    { bps: 100e6, both: false },
    { bps: 10e6, both: true },
    { bps: 100e6, both: true },
    { bps: 100e6, both: false, relay: "engine" },
    { bps: 100e6, both: true, relay: "engine" },
    { bps: 100e6, both: false, baseline: true },
    { bps: 100e6, both: true, baseline: true },
  ];
  const rows: Row[] = [];
  for (const c of cases) rows.push(await measure(c, windowMs));
  ctx.results.table("shaping", {
    title: "4. Shaping cost (one connection, flat out, relay in its own process)",
    columns: ["relay", "link", "traffic", "up Mbps", "total Mbps", "relay CPU %", "user %", "system %", "CPU s/GB", "rss MB", "goal"],
    rows,
    notes: [
      `relay CPU % = user + system CPU of the relay process (/proc) over ${windowMs} ms / wall time (100 % = one core); goal <= ${GOAL_PCT} % at 100 Mbps (agent)`,
      "agent = `netimpair agent` as users start it; engine = the Proxy class alone in a worker process",
      "the bare relay rows carry the same rate with no shaping (sender paced in 1 ms steps): the cost of relaying that rate at all",
    ],
  });
}
