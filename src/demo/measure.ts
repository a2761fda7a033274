// Measurements a client makes through a proxy: round trip, download rate, upload rate.
import net, { type Socket } from "node:net";
import { once } from "node:events";
import { performance } from "node:perf_hooks";

export async function openClient(port: number): Promise<Socket> {
  const s = net.connect({ host: "127.0.0.1", port, noDelay: true });
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

/** Resolves once `n` bytes have been read; reports first/last arrival times. */
function readN(s: Socket, n: number, timeoutMs: number): Promise<{ data: Buffer; first: number; last: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    let first = -1;
    const timer = setTimeout(() => finish(new Error(`timed out with ${got}/${n} bytes`)), timeoutMs);
    const onData = (c: Buffer): void => {
      const now = performance.now();
      if (first < 0) first = now;
      chunks.push(c);
      got += c.length;
      if (got >= n) finish(undefined, now);
    };
    const onClose = (): void => finish(new Error(`connection closed with ${got}/${n} bytes`));
    function finish(err?: Error, last = 0): void {
      clearTimeout(timer);
      s.off("data", onData);
      s.off("close", onClose);
      if (err) reject(err);
      else resolve({ data: Buffer.concat(chunks, got), first, last });
    }
    s.on("data", onData);
    s.on("close", onClose);
  });
}

/** Median round trip of `count` 64-byte pings, in ms. */
export async function pingMs(s: Socket, count: number, timeoutMs: number): Promise<number> {
  const samples: number[] = [];
  const ping = Buffer.alloc(64, 0x2e);
  ping.write("P");
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const answer = readN(s, 64, timeoutMs);
    s.write(ping);
    await answer;
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function header(op: "D" | "U", length: number): Buffer {
  const b = Buffer.alloc(5);
  b.write(op);
  b.writeUInt32BE(length, 1);
  return b;
}

/**
 * Download rate in bits/s: bytes after the first arrival divided by the time from the first
 * to the last arrival, so the link's delay does not count against its bandwidth.
 */
export async function downloadBps(s: Socket, bytes: number, timeoutMs: number): Promise<number> {
  const answer = readN(s, bytes, timeoutMs);
  s.write(header("D", bytes));
  const { first, last } = await answer;
  return ((bytes - firstChunkEstimate(bytes)) * 8 * 1000) / Math.max(last - first, 1e-3);
}

/** Asks for `bytes` down and resolves with when the first and the last of them arrived (ms). */
export async function downloadSpan(s: Socket, bytes: number, timeoutMs: number): Promise<{ first: number; last: number }> {
  const answer = readN(s, bytes, timeoutMs);
  s.write(header("D", bytes));
  const { first, last } = await answer;
  return { first, last };
}

/** Upload rate in bits/s, timed by the upstream between the first and last byte it read. */
export async function uploadBps(s: Socket, bytes: number, timeoutMs: number): Promise<number> {
  const answer = readN(s, 9, timeoutMs);
  s.write(header("U", bytes));
  s.write(Buffer.alloc(bytes, 0x62));
  const { data } = await answer;
  const ms = data.readDoubleBE(1);
  return ((bytes - firstChunkEstimate(bytes)) * 8 * 1000) / Math.max(ms, 1e-3);
}

/** The first segment arrives at the first timestamp, so it is not part of the timed span. */
function firstChunkEstimate(bytes: number): number {
  return Math.min(1460, bytes);
}
