// 1. Clean bulk throughput: direct loopback vs a bare pipe relay vs netimpair with no impairment
// vs netimpair with an impairment that changes nothing measurable (10 Gbps each way).
// Sender and sink share the main process; each relay runs in its own worker process.
// Goal: netimpair clean >= 0.95x the bare relay.
import type { BenchContext } from "./lib/context.js";
import { PATHS, startPath, type PathName } from "./lib/relay.js";
import { bulkWriter, dial, sink, sleep } from "./lib/sockets.js";
import { median, round } from "./lib/stats.js";

interface Sample {
  gbps: number;
  relayCpuPct: number | null;
  cpuSecPerGB: number | null;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

async function measure(path: PathName, windowMs: number): Promise<Sample> {
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
    const bytes = b1 - b0;
    const cpuSec = u0 && u1 ? (u1.cpuUs - u0.cpuUs) / 1e6 : null;
    return {
      gbps: bytes / seconds / 1e9,
      relayCpuPct: cpuSec === null ? null : (cpuSec / seconds) * 100,
      cpuSecPerGB: cpuSec === null ? null : cpuSec / (bytes / 1e9),
    };
  } finally {
    await relay.stop();
    await target.close();
  }
}

export async function throughput(ctx: BenchContext): Promise<void> {
  const rounds = ctx.quick ? 1 : 3;
  const windowMs = ctx.quick ? 1000 : 3000;
  const samples = new Map<PathName, Sample[]>(PATHS.map((p) => [p, []]));
  for (let r = 0; r < rounds; r++) {
    for (const p of PATHS) samples.get(p)!.push(await measure(p, windowMs));
  }
  const med = (p: PathName, f: (s: Sample) => number | null): number | null => {
    const xs = samples.get(p)!.map(f).filter((x): x is number => x !== null);
    return xs.length ? median(xs) : null;
  };
  const bare = med("bare relay", (s) => s.gbps)!;
  const direct = med("direct", (s) => s.gbps)!;
  const rows = PATHS.map((p) => {
    const gbps = med(p, (s) => s.gbps)!;
    return {
      path: p,
      "GB/s": round(gbps, 3),
      "x direct": round(gbps / direct, 3),
      "x bare": p === "direct" ? null : round(gbps / bare, 3),
      "relay CPU %": med(p, (s) => s.relayCpuPct) === null ? null : round(med(p, (s) => s.relayCpuPct)!, 1),
      "CPU s/GB": med(p, (s) => s.cpuSecPerGB) === null ? null : round(med(p, (s) => s.cpuSecPerGB)!, 3),
    };
  });
  const cleanRatio = med("netimpair clean", (s) => s.gbps)! / bare;
  const tenRatio = med("netimpair 10Gbps", (s) => s.gbps)! / bare;
  ctx.results.table("throughput", {
    title: "1. Clean bulk throughput (one connection, client -> upstream, 64 KiB writes)",
    columns: ["path", "GB/s", "x direct", "x bare", "relay CPU %", "CPU s/GB"],
    rows,
    notes: [
      `median of ${rounds} round(s) of ${windowMs} ms each; GB = 1e9 bytes; sender and sink in the main process, relay in its own process`,
      `goal: netimpair clean >= 0.95x bare relay: ${round(cleanRatio, 3)}x ${cleanRatio >= 0.95 ? "MET" : "MISSED"}; 10 Gbps link: ${round(tenRatio, 3)}x`,
    ],
  });
  ctx.results.figure("throughput", "samples", Object.fromEntries(samples));
  ctx.results.figure("throughput", "cleanOverBare", round(cleanRatio, 4));
  ctx.results.figure("throughput", "tenGbpsOverBare", round(tenRatio, 4));
}
