// 7. Shared links, measured through `netimpair agent` (the CLI, its own process):
//   a. N greedy downloads from one client address (share client) at 1 and 50 Mbps, rtt 40 ms:
//      total bandwidth error, Jain's fairness index, and a 64-byte ping's round trip beside
//      them, with queue fair and fifo. The ping alone on the idle link is the baseline.
//      Goals: total within 2 %, Jain >= 0.98 (fair), fair ping <= idle ping + 2 segments.
//   b. Agent CPU for 1,000 greedy connections sharing one 100 Mbps link against 1,000 separate
//      links of 100 kbps each (the same 100 Mbps in total).
import net, { type Socket } from "node:net";
import { once } from "node:events";
import type { BenchContext } from "./lib/context.js";
import { startCliAgent, type CliAgent } from "./lib/cli-agent.js";
import { listen, bulkWriter, sleep, type Endpoint } from "./lib/sockets.js";
import type { Row } from "./lib/report.js";
import { median, quantile, round } from "./lib/stats.js";

const RTT_MS = 40;
const SEGMENT = 1460;
const CLIENT = "127.0.0.2";

/** An upstream whose connections say what they want: "B" bulk download without end, "E" echo. */
async function modeUpstream(): Promise<Endpoint> {
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  return listen((s) => {
    s.setNoDelay(true);
    let writer: { stop(): void } | null = null;
    let mode: string | null = null;
    s.on("data", (c: Buffer) => {
      if (mode === "E") {
        s.write(c);
        return;
      }
      if (mode !== null) return;
      mode = String.fromCharCode(c[0]!);
      if (mode === "B") writer = bulkWriter(s, chunk);
      else if (c.length > 1) s.write(c.subarray(1));
    });
    s.on("close", () => writer?.stop());
    s.on("end", () => s.end());
  });
}

async function dialFrom(port: number): Promise<Socket> {
  const s = net.connect({ host: "127.0.0.1", port, localAddress: CLIENT, noDelay: true });
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

interface Download {
  socket: Socket;
  bytes: number;
}

async function openDownloads(port: number, n: number): Promise<Download[]> {
  const out: Download[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, async () => {
        const d: Download = { socket: await dialFrom(port), bytes: 0 };
        d.socket.on("data", (c: Buffer) => (d.bytes += c.length));
        d.socket.write("B");
        return d;
      }),
    );
    out.push(...batch);
  }
  return out;
}

/** Pings (64 bytes, echoed) one after another until `untilMs` (performance.now()); at least `min`. */
async function pingLoop(s: Socket, untilMs: number, min: number): Promise<number[]> {
  const samples: number[] = [];
  const payload = Buffer.alloc(64, 0x70);
  let got = 0;
  let wake: (() => void) | null = null;
  s.on("data", (c: Buffer) => {
    got += c.length;
    if (got >= 64 && wake) {
      got -= 64;
      const w = wake;
      wake = null;
      w();
    }
  });
  while (performance.now() < untilMs || samples.length < min) {
    const t0 = performance.now();
    const answered = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 15_000);
      wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    s.write(payload);
    if (!(await answered)) break;
    samples.push(performance.now() - t0);
    await sleep(50);
  }
  return samples;
}

function jain(xs: number[]): number {
  const sum = xs.reduce((a, b) => a + b, 0);
  const squares = xs.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 0 : (sum * sum) / (xs.length * squares);
}

async function settle(agent: CliAgent): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const p = (await agent.control.proxies()).find((x) => x.name === "bench");
    if (p && p.stats.connectionsActive === 0) return;
    await sleep(50);
  }
}

async function applyShared(agent: CliAgent, spec: Record<string, unknown>): Promise<void> {
  await agent.control.apply("bench", undefined, { spec });
}

interface SharingResult {
  total: number;
  shares: number[];
  pings: number[];
}

async function runSharing(
  agent: CliAgent,
  bps: number,
  n: number,
  queue: "fair" | "fifo",
  windowMs: number,
  share: "client" | "connection" = "client",
): Promise<SharingResult> {
  await applyShared(agent, { share, queue, rtt: `${RTT_MS}ms`, down: { bandwidth: bps } });
  const downloads = await openDownloads(agent.port, n);
  const pinger = await dialFrom(agent.port);
  pinger.write("E");
  try {
    // the downloads fill their queue: at least 1 s, and the time the bound takes at this rate
    await sleep(Math.max(1000, ((2 * 64 * 1024 * 8) / bps) * 1000));
    const before = downloads.map((d) => d.bytes);
    const t0 = performance.now();
    const pings = await pingLoop(pinger, t0 + windowMs, 3);
    const seconds = (performance.now() - t0) / 1000;
    const shares = downloads.map((d, i) => ((d.bytes - before[i]!) * 8) / seconds);
    return { total: shares.reduce((a, b) => a + b, 0), shares, pings };
  } finally {
    for (const d of downloads) d.socket.destroy();
    pinger.destroy();
    await settle(agent);
  }
}

async function idlePing(agent: CliAgent, bps: number): Promise<number> {
  await applyShared(agent, { share: "client", rtt: `${RTT_MS}ms`, down: { bandwidth: bps } });
  const pinger = await dialFrom(agent.port);
  pinger.write("E");
  try {
    return median(await pingLoop(pinger, performance.now() + 1500, 10));
  } finally {
    pinger.destroy();
    await settle(agent);
  }
}

function mbps(bps: number): number {
  return round(bps / 1e6, 3);
}

async function sharingTable(ctx: BenchContext, agent: CliAgent): Promise<void> {
  const windowMs = ctx.quick ? 1500 : 4000;
  const rows: Row[] = [];
  for (const bps of [1e6, 50e6]) {
    const idle = await idlePing(agent, bps);
    const serialization = ((SEGMENT * 8) / bps) * 1000;
    // the first wave's model (one connection, a clock of its own) as the baseline of this run
    const own = await runSharing(agent, bps, 1, "fair", windowMs, "connection");
    rows.push({
      link: `${bps / 1e6} Mbps`,
      conns: 1,
      queue: "(share connection)",
      "total Mbps": mbps(own.total),
      "error %": round(((own.total - bps) / bps) * 100, 2),
      "each Mbps (min-max)": `${mbps(own.total)}-${mbps(own.total)}`,
      Jain: 1,
      "idle ping ms": round(idle, 1),
      "ping ms": round(median(own.pings), 1),
      "ping p90 ms": round(quantile(own.pings, 0.9), 1),
      "fair ping goal ms": null,
      goal: null,
    });
    for (const n of [1, 2, 8, 32]) {
      for (const queue of ["fair", "fifo"] as const) {
        const r = await runSharing(agent, bps, n, queue, windowMs);
        const errPct = ((r.total - bps) / bps) * 100;
        const index = jain(r.shares);
        const ping = median(r.pings);
        const pingGoal = idle + 2 * serialization;
        rows.push({
          link: `${bps / 1e6} Mbps`,
          conns: n,
          queue,
          "total Mbps": mbps(r.total),
          "error %": round(errPct, 2),
          "each Mbps (min-max)": `${mbps(Math.min(...r.shares))}-${mbps(Math.max(...r.shares))}`,
          Jain: round(index, 4),
          "idle ping ms": round(idle, 1),
          "ping ms": round(ping, 1),
          "ping p90 ms": round(quantile(r.pings, 0.9), 1),
          "fair ping goal ms": queue === "fair" ? round(pingGoal, 1) : null,
          goal:
            Math.abs(errPct) <= 2 && (queue === "fifo" || (index >= 0.98 && ping <= pingGoal))
              ? "MET"
              : `MISSED${Math.abs(errPct) > 2 ? " total" : ""}${queue === "fair" && index < 0.98 ? " Jain" : ""}${queue === "fair" && ping > pingGoal ? " ping" : ""}`,
        });
        console.log(`  ${bps / 1e6} Mbps, ${n} conns, ${queue}: ${mbps(r.total)} Mbps, Jain ${index.toFixed(4)}, ping ${ping.toFixed(1)} ms`);
      }
    }
  }
  ctx.results.table("sharing", {
    title: "7a. Shared links: N greedy downloads from one client (share client), rtt 40 ms, through `netimpair agent`",
    columns: ["link", "conns", "queue", "total Mbps", "error %", "each Mbps (min-max)", "Jain", "idle ping ms", "ping ms", "ping p90 ms", "fair ping goal ms", "goal"],
    rows,
    notes: [
      `rates: bytes each client read over ${windowMs} ms after the queue filled; error % = total against the link's bandwidth`,
      "ping: a 64-byte echo on another connection of the same client, beside the downloads; idle ping = the same ping alone on the link (the baseline)",
      "(share connection): one download on a link of its own, the first wave's model, measured in the same run (its ping has a link of its own too)",
      "goals: |error| <= 2 %; with fair, Jain >= 0.98 and ping <= idle ping + 2 segments' serialization (1460 B at the link's rate); fifo pings wait behind the queue by design",
    ],
  });
}

async function cpuRun(agent: CliAgent, shared: boolean, n: number, windowMs: number): Promise<Row> {
  const spec = shared
    ? { share: "client", rtt: "20ms", down: { bandwidth: "100Mbps" } }
    : { share: "connection", rtt: "20ms", down: { bandwidth: `${100_000 / n}kbps` } };
  await applyShared(agent, spec);
  const t0 = performance.now();
  const downloads = await openDownloads(agent.port, n);
  const openSec = (performance.now() - t0) / 1000;
  try {
    await sleep(2500);
    const before = downloads.map((d) => d.bytes);
    const u0 = agent.usage();
    const w0 = performance.now();
    await sleep(windowMs);
    const u1 = agent.usage();
    const seconds = (performance.now() - w0) / 1000;
    const shares = downloads.map((d, i) => ((d.bytes - before[i]!) * 8) / seconds);
    const bytes = downloads.reduce((sum, d, i) => sum + d.bytes - before[i]!, 0);
    const cpuSec = (u1.cpuMs - u0.cpuMs) / 1000;
    return {
      links: shared ? `1 shared 100 Mbps link` : `${n} links of ${100 / n} Mbps`,
      conns: n,
      "open s": round(openSec, 2),
      "total Mbps": mbps((bytes * 8) / seconds),
      Jain: round(jain(shares), 4),
      "agent CPU %": round((cpuSec / seconds) * 100, 1),
      "CPU s/GB": round(cpuSec / (bytes / 1e9), 2),
      "agent rss MB": round(u1.rss / 2 ** 20, 1),
    };
  } finally {
    for (const d of downloads) d.socket.destroy();
    await settle(agent);
  }
}

async function cpuTable(ctx: BenchContext, agent: CliAgent): Promise<void> {
  const windowMs = ctx.quick ? 2000 : 5000;
  const n = 1000;
  const rows: Row[] = [];
  const separate = await cpuRun(agent, false, n, windowMs);
  const shared = await cpuRun(agent, true, n, windowMs);
  const base = separate["agent CPU %"] as number;
  separate["CPU vs separate"] = 1;
  shared["CPU vs separate"] = base > 0 ? round((shared["agent CPU %"] as number) / base, 2) : null;
  rows.push(separate, shared);
  ctx.results.table("sharing-cpu", {
    title: "7b. Shared links: agent CPU, 1,000 greedy downloads from one client, 100 Mbps in total, through `netimpair agent`",
    columns: ["links", "conns", "open s", "total Mbps", "Jain", "agent CPU %", "CPU s/GB", "CPU vs separate", "agent rss MB"],
    rows,
    notes: [
      `agent CPU % = utime + stime of the agent process (/proc) over ${windowMs} ms / wall time (100 % = one core); the clients and the upstream run in the benchmark's process`,
      "separate = share connection with 100 kbps each (the first wave's model); shared = share client, one 100 Mbps link with the fair scheduler",
    ],
  });
}

export async function sharing(ctx: BenchContext): Promise<void> {
  const upstream = await modeUpstream();
  const agent = await startCliAgent(upstream.port);
  try {
    await sharingTable(ctx, agent);
    await cpuTable(ctx, agent);
  } finally {
    await agent.stop();
    await upstream.close();
  }
}
