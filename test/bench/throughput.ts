// 1. Clean bulk throughput, one connection each way: direct loopback, a bare net + pipe relay,
// `netimpair agent` as users start it (clean, and with a 10 Gbps link that shapes nothing), and
// the engine alone (the Proxy class in a worker) beside it. Load: iperf3 where installed (up =
// client sends, down = -R), else our own writer and sink (up only). Relay CPU from /proc.
// Goal: the agent's clean path >= 0.95x the bare relay in GB/s and in CPU per GB.
import type { BenchContext } from "./lib/context.js";
import { PATHS, PATH_LEGEND, startPath, type PathName, type RunningRelay, type Usage } from "./lib/relay.js";
import { bulkWriter, dial, sink, sleep } from "./lib/sockets.js";
import { haveIperf3, iperfClient, iperfServer } from "./lib/iperf.js";
import { median, round } from "./lib/stats.js";
import type { Row } from "./lib/report.js";

type Dir = "up" | "down";

interface Sample {
  gbps: number;
  cpuSecPerGB: number | null;
  majorGcsPerGB: number | null;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

function sampleOf(bytes: number, seconds: number, u0: Usage | null, u1: Usage | null): Sample {
  const gb = bytes / 1e9;
  return {
    gbps: gb / seconds,
    cpuSecPerGB: u0 && u1 ? (u1.cpuUs - u0.cpuUs) / 1e6 / gb : null,
    majorGcsPerGB: u0 && u1 ? (u1.majorGcs - u0.majorGcs) / gb : null,
  };
}

async function measureIperf(path: PathName, dir: Dir, windowMs: number): Promise<Sample> {
  const server = await iperfServer();
  let relay: RunningRelay | null = null;
  try {
    relay = await startPath(path, server.port);
    const u0 = await relay.usage();
    const r = await iperfClient(relay.port, windowMs / 1000, dir === "down");
    const u1 = await relay.usage();
    return sampleOf(r.bytes, r.seconds, u0, u1);
  } finally {
    await relay?.stop();
    await server.close();
  }
}

async function measureOwn(path: PathName, windowMs: number): Promise<Sample> {
  const target = await sink();
  const relay = await startPath(path, target.port);
  try {
    const s = await dial(relay.port);
    const writer = bulkWriter(s, CHUNK);
    await sleep(300); // warm up: JIT, socket buffers, TCP windows
    const b0 = target.bytes();
    const u0 = await relay.usage();
    const t0 = performance.now();
    await sleep(windowMs);
    const b1 = target.bytes();
    const u1 = await relay.usage();
    const seconds = (performance.now() - t0) / 1000;
    writer.stop();
    s.destroy();
    return sampleOf(b1 - b0, seconds, u0, u1);
  } finally {
    await relay.stop();
    await target.close();
  }
}

export async function throughput(ctx: BenchContext): Promise<void> {
  const rounds = ctx.quick ? 1 : 3;
  const windowMs = ctx.quick ? 1000 : 3000;
  const iperf = haveIperf3();
  const dirs: Dir[] = iperf ? ["up", "down"] : ["up"];
  const key = (p: PathName, d: Dir): string => `${p} ${d}`;
  const samples = new Map<string, Sample[]>();
  // every round measures every path, so a baseline is always measured in the same run
  for (let r = 0; r < rounds; r++) {
    for (const d of dirs) {
      for (const p of PATHS) {
        const s = iperf ? await measureIperf(p, d, windowMs) : await measureOwn(p, windowMs);
        const list = samples.get(key(p, d)) ?? [];
        list.push(s);
        samples.set(key(p, d), list);
      }
    }
  }
  const med = (p: PathName, d: Dir, f: (s: Sample) => number | null): number | null => {
    const xs = (samples.get(key(p, d)) ?? []).map(f).filter((x): x is number => x !== null);
    return xs.length ? median(xs) : null;
  };
  const spread = (p: PathName, d: Dir, f: (s: Sample) => number | null): string | null => {
    const xs = (samples.get(key(p, d)) ?? []).map(f).filter((x): x is number => x !== null);
    return xs.length > 1 ? `${round(Math.min(...xs), 3)}-${round(Math.max(...xs), 3)}` : null;
  };
  const rows: Row[] = [];
  const goals: string[] = [];
  for (const d of dirs) {
    const bareGbps = med("bare relay", d, (s) => s.gbps)!;
    const bareCpu = med("bare relay", d, (s) => s.cpuSecPerGB)!;
    for (const p of PATHS) {
      const gbps = med(p, d, (s) => s.gbps)!;
      const cpu = med(p, d, (s) => s.cpuSecPerGB);
      rows.push({
        path: p,
        dir: d,
        "GB/s": round(gbps, 3),
        "GB/s range": spread(p, d, (s) => s.gbps),
        "x bare": p === "direct" ? null : round(gbps / bareGbps, 3),
        "CPU s/GB": cpu === null ? null : round(cpu, 3),
        "CPU s/GB range": spread(p, d, (s) => s.cpuSecPerGB),
        "CPU x bare": cpu === null ? null : round(bareCpu / cpu, 3),
        "major GC/GB": med(p, d, (s) => s.majorGcsPerGB) === null ? null : round(med(p, d, (s) => s.majorGcsPerGB)!, 2),
      });
    }
    const g = med("agent clean", d, (s) => s.gbps)! / bareGbps;
    const c = bareCpu / med("agent clean", d, (s) => s.cpuSecPerGB)!;
    goals.push(`${d}: GB/s ${round(g, 3)}x, CPU ${round(c, 3)}x ${g >= 0.95 && c >= 0.95 ? "MET" : "MISSED"}`);
    ctx.results.figure("throughput", `agentCleanOverBare_${d}`, { gbps: round(g, 4), cpu: round(c, 4) });
  }
  ctx.results.table("throughput", {
    title: `1. Clean bulk throughput (one connection; ${iperf ? "iperf3" : "own writer and sink, 64 KiB writes"})`,
    columns: ["path", "dir", "GB/s", "GB/s range", "x bare", "CPU s/GB", "CPU s/GB range", "CPU x bare", "major GC/GB"],
    rows,
    notes: [
      `median of ${rounds} round(s) of ${windowMs} ms per path and direction (range = min-max); GB = 1e9 bytes; ${PATH_LEGEND}`,
      `${iperf ? "iperf3 -c through the relay to iperf3 -s -1 (down = -R); bytes and seconds from its JSON report" : "iperf3 not installed: sender and sink in the bench process"}; CPU s/GB = the relay process's user + system time (/proc/PID/stat, all threads) per GB`,
      "x bare = GB/s over the bare relay's; CPU x bare = the bare relay's CPU s/GB over this path's (above 1 = cheaper per byte than the bare relay)",
      `goal: agent clean >= 0.95x the bare relay in GB/s and CPU per GB: ${goals.join("; ")}`,
    ],
  });
  ctx.results.figure("throughput", "load", iperf ? "iperf3" : "own");
  ctx.results.figure("throughput", "samples", Object.fromEntries(samples));
}
