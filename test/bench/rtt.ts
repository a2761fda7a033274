// 2. Round-trip overhead: sequential 64-byte ping-pongs through each path to an echo server
// (client and echo in the main process, relay in its own process). Goal: the p50 netimpair
// adds is within 1.1x of what the bare relay adds.
import type { Socket } from "node:net";
import type { BenchContext } from "./lib/context.js";
import { PATHS, PATH_LEGEND, startPath, type PathName } from "./lib/relay.js";
import { dial, echo } from "./lib/sockets.js";
import { quantile, round } from "./lib/stats.js";

const SIZE = 64;

/** n sequential ping-pongs; microseconds each. */
function pingPong(s: Socket, n: number): Promise<number[]> {
  const payload = Buffer.alloc(SIZE, 1);
  const times: number[] = [];
  return new Promise((resolve, reject) => {
    let got = 0;
    let t0 = 0;
    const send = (): void => {
      got = 0;
      t0 = performance.now();
      s.write(payload);
    };
    const onData = (c: Buffer): void => {
      got += c.length;
      if (got < SIZE) return;
      times.push((performance.now() - t0) * 1000);
      if (times.length >= n) {
        s.off("data", onData);
        resolve(times);
      } else send();
    };
    s.on("data", onData);
    s.once("close", () => reject(new Error("connection closed during ping-pong")));
    send();
  });
}

async function measure(path: PathName, n: number): Promise<number[]> {
  const server = await echo();
  const relay = await startPath(path, server.port);
  try {
    const s = await dial(relay.port);
    await pingPong(s, Math.min(2000, n)); // warm up
    const times = await pingPong(s, n);
    s.destroy();
    return times;
  } finally {
    await relay.stop();
    await server.close();
  }
}

export async function rtt(ctx: BenchContext): Promise<void> {
  const n = ctx.quick ? 3000 : 20000;
  const rounds = ctx.quick ? 1 : 3;
  const all = new Map<PathName, number[]>(PATHS.map((p) => [p, []]));
  for (let r = 0; r < rounds; r++) for (const p of PATHS) all.get(p)!.push(...(await measure(p, n)));
  const p50 = (p: PathName): number => quantile(all.get(p)!, 0.5);
  const direct = p50("direct");
  const bareAdded = p50("bare relay") - direct;
  const rows = PATHS.map((p) => ({
    path: p,
    "p50 us": round(p50(p), 1),
    "p99 us": round(quantile(all.get(p)!, 0.99), 1),
    "p99.9 us": round(quantile(all.get(p)!, 0.999), 1),
    "added p50 us": p === "direct" ? null : round(p50(p) - direct, 1),
    "added x bare": p === "direct" || p === "bare relay" ? null : round((p50(p) - direct) / bareAdded, 3),
  }));
  const ratio = (p50("agent clean") - direct) / bareAdded;
  const engineRatio = (p50("engine clean") - direct) / bareAdded;
  ctx.results.table("rtt", {
    title: "2. Round-trip overhead (64-byte ping-pong, one connection)",
    columns: ["path", "p50 us", "p99 us", "p99.9 us", "added p50 us", "added x bare"],
    rows,
    notes: [
      `${rounds} round(s) x ${n} round trips per path; relay in its own process; ${PATH_LEGEND}`,
      `goal: agent clean added p50 within 1.1x of the bare relay's: ${round(ratio, 3)}x ${ratio <= 1.1 ? "MET" : "MISSED"} (engine alone: ${round(engineRatio, 3)}x)`,
    ],
  });
  ctx.results.figure("rtt", "cleanAddedOverBareAdded", round(ratio, 4));
  ctx.results.figure("rtt", "engineCleanAddedOverBareAdded", round(engineRatio, 4));
}
