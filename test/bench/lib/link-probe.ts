// Measures what a relayed link does, each way, with both ends in this process (one clock):
// one-way delay of small probes, and bulk delivery (bandwidth, smoothness, burst size).
import type { Socket } from "node:net";
import type { DirectionSpec, JitterDistribution } from "../../../src/profiles/types.js";
import { dial, listen, sleep, type Endpoint } from "./sockets.js";
import { mean, quantile, stdev } from "./stats.js";

export type Dir = "up" | "down";

/** A connected pair through a relay: the client's socket and the upstream's accepted socket. */
export interface Pair {
  client: Socket;
  server: Socket;
}

/** An upstream that hands out its accepted sockets in order. */
export class Upstream {
  private readonly waiting: ((s: Socket) => void)[] = [];
  private readonly ready: Socket[] = [];
  private constructor(readonly endpoint: Endpoint) {}

  static async start(): Promise<Upstream> {
    let self: Upstream | null = null;
    const ep = await listen((s) => self!.accepted(s));
    self = new Upstream(ep);
    return self;
  }

  get port(): number {
    return this.endpoint.port;
  }

  /** Dials relayPort and resolves once the upstream has the other end. */
  async pair(relayPort: number, timeoutMs = 10_000): Promise<Pair> {
    const serverSide = new Promise<Socket>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`upstream saw no connection within ${timeoutMs} ms`)), timeoutMs);
      const next = this.ready.shift();
      if (next) {
        clearTimeout(t);
        resolve(next);
      } else
        this.waiting.push((s) => {
          clearTimeout(t);
          resolve(s);
        });
    });
    const client = await dial(relayPort);
    return { client, server: await serverSide };
  }

  close(): Promise<void> {
    return this.endpoint.close();
  }

  private accepted(s: Socket): void {
    s.setNoDelay(true);
    const w = this.waiting.shift();
    if (w) w(s);
    else this.ready.push(s);
  }
}

function ends(pair: Pair, dir: Dir): { from: Socket; to: Socket } {
  return dir === "up" ? { from: pair.client, to: pair.server } : { from: pair.server, to: pair.client };
}

const PROBE_BYTES = 8;

/** One-way delays (ms) of `count` 8-byte probes sent `spacingMs` apart, both directions at once. */
export async function probeDelays(pair: Pair, count: number, spacingMs: number, maxWaitMs: number): Promise<Record<Dir, number[]>> {
  const one = async (dir: Dir): Promise<number[]> => {
    const { from, to } = ends(pair, dir);
    const sent: number[] = [];
    const delays: number[] = [];
    let pending: Buffer = Buffer.alloc(0);
    const done = new Promise<void>((resolve) => {
      const onData = (c: Buffer): void => {
        const now = performance.now();
        pending = pending.length ? Buffer.concat([pending, c]) : c;
        while (pending.length >= PROBE_BYTES) {
          const seq = pending.readUInt32BE(0);
          pending = pending.subarray(PROBE_BYTES);
          delays[seq] = now - sent[seq]!;
        }
        if (delays.filter((d) => d !== undefined).length >= count) {
          to.off("data", onData);
          resolve();
        }
      };
      to.on("data", onData);
    });
    for (let i = 0; i < count; i++) {
      const b = Buffer.alloc(PROBE_BYTES);
      b.writeUInt32BE(i, 0);
      sent[i] = performance.now();
      from.write(b);
      await sleep(spacingMs);
    }
    await Promise.race([done, sleep(maxWaitMs)]);
    return delays.filter((d) => d !== undefined);
  };
  const [up, down] = await Promise.all([one("up"), one("down")]);
  return { up, down };
}

/** What bulk delivery of one direction looked like at the receiver. */
export interface BulkResult {
  bytes: number;
  /** bits/s from the first read to the last (bytes after the first read over that time) */
  bps: number;
  /** largest |real - ideal| arrival time of any read, ideal = a straight line at the configured rate from the first read, ms */
  maxGapMs: number | null;
  /** 99th percentile of the same, ms (one scheduling hiccup moves the max, not this) */
  p99GapMs: number | null;
  /** largest single read, bytes */
  maxReadBytes: number;
  /** largest time between two reads, ms */
  maxReadGapMs: number;
  reads: number;
  complete: boolean;
}

/** Sends `bytes` each way at once (as fast as the link takes them) and records every read. */
export async function bulk(
  pair: Pair,
  bytes: Record<Dir, number>,
  configuredBps: Record<Dir, number | null>,
  maxWaitMs: number,
): Promise<Record<Dir, BulkResult>> {
  const one = async (dir: Dir): Promise<BulkResult> => {
    const { from, to } = ends(pair, dir);
    const total = bytes[dir];
    const times: number[] = [];
    const cum: number[] = [];
    let got = 0;
    const done = new Promise<void>((resolve) => {
      const onData = (c: Buffer): void => {
        got += c.length;
        times.push(performance.now());
        cum.push(got);
        if (got >= total) {
          to.off("data", onData);
          resolve();
        }
      };
      to.on("data", onData);
    });
    from.write(Buffer.alloc(total, 0x61));
    await Promise.race([done, sleep(maxWaitMs)]);
    const n = times.length;
    const t0 = times[0] ?? 0;
    const c0 = cum[0] ?? 0;
    const span = n > 1 ? times[n - 1]! - t0 : 0;
    const bps = span > 0 ? ((cum[n - 1]! - c0) * 8 * 1000) / span : NaN;
    let maxGapMs: number | null = null;
    let p99GapMs: number | null = null;
    const cfg = configuredBps[dir];
    if (cfg !== null && n > 1) {
      const gaps: number[] = [];
      for (let i = 1; i < n; i++) gaps.push(Math.abs(times[i]! - (t0 + ((cum[i]! - c0) * 8 * 1000) / cfg)));
      maxGapMs = Math.max(...gaps);
      p99GapMs = quantile(gaps, 0.99);
    }
    let maxRead = c0;
    let maxReadGap = 0;
    for (let i = 1; i < n; i++) {
      maxRead = Math.max(maxRead, cum[i]! - cum[i - 1]!);
      maxReadGap = Math.max(maxReadGap, times[i]! - times[i - 1]!);
    }
    return { bytes: got, bps, maxGapMs, p99GapMs, maxReadBytes: maxRead, maxReadGapMs: maxReadGap, reads: n, complete: got >= total };
  };
  const [up, down] = await Promise.all([one("up"), one("down")]);
  return { up, down };
}

/** Standard deviation of a jitter distribution with mean j (ms). */
export function jitterSd(dist: JitterDistribution, j: number): number {
  if (j <= 0) return 0;
  switch (dist) {
    case "uniform":
      return (2 * j) / Math.sqrt(12);
    case "normal":
      return j / 2;
    case "pareto":
      return j * Math.sqrt(3); // Lomax, shape 3, mean j
  }
}

/** Delay figures of one direction: configured expectation vs measured. */
export interface DelayResult {
  /** delay + jitter mean + probe serialization, ms */
  expectedMs: number;
  meanMs: number;
  p50Ms: number;
  minMs: number;
  /** configured and measured standard deviation of the delay (the jitter's spread), ms */
  sdExpectedMs: number;
  sdMs: number;
  samples: number;
}

export function delayResult(d: DirectionSpec, samples: number[]): DelayResult {
  const serialization = d.bandwidth === null ? 0 : (PROBE_BYTES * 8 * 1000) / d.bandwidth;
  return {
    expectedMs: d.delay + d.jitter + serialization,
    meanMs: mean(samples),
    p50Ms: quantile(samples, 0.5),
    minMs: Math.min(...samples),
    sdExpectedMs: jitterSd(d.jitterDistribution, d.jitter),
    sdMs: stdev(samples),
    samples: samples.length,
  };
}
