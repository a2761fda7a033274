// Helpers for the engine's integration tests (not a test file itself): a started Proxy on
// loopback, specs built from cleanSpec(), numbered byte streams and peers that push or sink them.
import type { Socket } from "node:net";
import { createHash } from "node:crypto";
import { Proxy, type ProxyOptions } from "../../src/relay/proxy.js";
import { cleanSpec, type ImpairmentSpec } from "../../src/profiles/types.js";
import { parseHostPort } from "../../src/relay/address.js";
import { endOf, startServer, type Peer } from "./net.js";

export interface RunningProxy {
  proxy: Proxy;
  port: number;
  close(): Promise<void>;
}

/** Starts a proxy listening on 127.0.0.1:0 (or `listen`) towards `upstream` (HOST:PORT). */
export async function startProxy(
  upstream: string,
  opts: Partial<Omit<ProxyOptions, "upstream">> = {},
): Promise<RunningProxy> {
  const proxy = new Proxy({ name: "t", listen: "127.0.0.1:0", ...opts, upstream });
  await proxy.start();
  return { proxy, port: portOf(proxy), close: () => proxy.close() };
}

/** The port a proxy listens on now. */
export function portOf(proxy: Proxy): number {
  const a = parseHostPort(proxy.listen);
  if (typeof a === "string") throw new Error(a);
  return a.port;
}

/** A spec: cleanSpec() changed by `mutate`. */
export function spec(mutate: (s: ImpairmentSpec) => void = () => {}): ImpairmentSpec {
  const s = cleanSpec();
  mutate(s);
  return s;
}

/** Applies `mutate(cleanSpec())` to every connection of the proxy (percent 100, all clients). */
export function impair(proxy: Proxy, mutate: (s: ImpairmentSpec) => void, percent = 100, clients: string[] = []): void {
  proxy.setImpairment({ spec: spec(mutate), percent, clients });
}

/**
 * The numbered stream: byte i of the stream is byte (i % 4) of the big-endian uint32 floor(i/4),
 * so a lost, duplicated or reordered piece shows up at its offset.
 */
export function streamBytes(offset: number, length: number): Buffer {
  const firstWord = Math.floor(offset / 4);
  const lastWord = Math.floor((offset + length + 3) / 4);
  const words = Buffer.allocUnsafe((lastWord - firstWord) * 4);
  for (let w = firstWord, p = 0; w < lastWord; w++, p += 4) words.writeUInt32BE(w >>> 0, p);
  const start = offset - firstWord * 4;
  return words.subarray(start, start + length);
}

/** Checks bytes as they arrive against the numbered stream; remembers the first mismatch. */
export class StreamChecker {
  received = 0;
  firstMismatch: number | null = null;
  chunks = 0;
  largestChunk = 0;

  push(chunk: Buffer): void {
    this.chunks++;
    if (chunk.length > this.largestChunk) this.largestChunk = chunk.length;
    if (this.firstMismatch === null) {
      const expected = streamBytes(this.received, chunk.length);
      if (!expected.equals(chunk)) {
        let i = 0;
        while (expected[i] === chunk[i]) i++;
        this.firstMismatch = this.received + i;
      }
    }
    this.received += chunk.length;
  }
}

/**
 * Writes `total` bytes of the numbered stream to `s`, `chunk` bytes per write, honouring
 * backpressure. Resolves with the bytes handed to write() once done (or once the socket closes).
 * `written()` on the returned handle says how far it got so far.
 */
export function writeStream(
  s: Socket,
  total: number,
  opts: { chunk?: number; end?: boolean } = {},
): { done: Promise<number>; written(): number; stop(): void } {
  const chunk = opts.chunk ?? 64 * 1024;
  let written = 0;
  let stopped = false;
  const done = new Promise<number>((resolve) => {
    const finish = (): void => {
      s.off("drain", pump);
      s.off("close", finish);
      resolve(written);
    };
    const pump = (): void => {
      while (!stopped && written < total && !s.destroyed) {
        const n = Math.min(chunk, total - written);
        const buf = streamBytes(written, n);
        written += n;
        if (!s.write(buf)) return; // wait for drain
      }
      if (!stopped && written >= total && opts.end !== false && !s.destroyed) s.end();
      finish();
    };
    s.on("drain", pump);
    s.once("close", finish);
    pump();
  });
  return { done, written: () => written, stop: () => (stopped = true) };
}

/** Collects a socket's bytes through a StreamChecker until it ends or closes. */
export function checkStream(s: Socket): { checker: StreamChecker; ended: Promise<string> } {
  const checker = new StreamChecker();
  s.on("data", (c: Buffer) => checker.push(c));
  const ended = new Promise<string>((resolve) => {
    s.once("end", () => resolve("end"));
    s.once("close", () => resolve("close"));
  });
  return { checker, ended };
}

/** An upstream that writes `total` numbered bytes to each connection as it opens, then ends. */
export function pushServer(total: number, opts: { chunk?: number; waitForByte?: boolean } = {}): Promise<Peer> {
  return startServer((s) => {
    s.setNoDelay(true);
    const go = (): void => void writeStream(s, total, { chunk: opts.chunk });
    if (opts.waitForByte) s.once("data", go);
    else go();
  });
}

export interface SinkPeer extends Peer {
  /** resolves with the bytes a connection received and how it ended */
  next(): Promise<{ bytes: number; checker: StreamChecker; how: string; socket: Socket }>;
  accepted: number;
}

/** An upstream that reads each connection (checking it as a numbered stream) until it ends. */
export async function sinkServer(opts: { ackAfter?: number } = {}): Promise<SinkPeer> {
  const waiting: Array<(r: { bytes: number; checker: StreamChecker; how: string; socket: Socket }) => void> = [];
  const results: Array<{ bytes: number; checker: StreamChecker; how: string; socket: Socket }> = [];
  const peer = (await startServer((s) => {
    sink.accepted++;
    const checker = new StreamChecker();
    let acked = false;
    s.on("data", (c: Buffer) => {
      checker.push(c);
      if (!acked && opts.ackAfter !== undefined && checker.received >= opts.ackAfter) {
        acked = true;
        s.write("K");
      }
    });
    let settled = false;
    const settle = (how: string): void => {
      if (settled) return;
      settled = true;
      const r = { bytes: checker.received, checker, how, socket: s };
      const w = waiting.shift();
      if (w) w(r);
      else results.push(r);
    };
    s.on("error", (err: NodeJS.ErrnoException) => settle(err.code === "ECONNRESET" ? "reset" : `error:${err.code}`));
    s.on("end", () => void finOrReset(s).then(settle));
    s.on("close", () => settle("close"));
  })) as SinkPeer;
  const sink = peer;
  sink.accepted = 0;
  sink.next = () =>
    new Promise((resolve) => {
      const r = results.shift();
      if (r) resolve(r);
      else waiting.push(resolve);
    });
  return sink;
}

/** An upstream that counts accepted connections and hands each to `onSocket` (default: echo). */
export async function countingServer(onSocket: (s: Socket) => void = (s) => s.pipe(s)): Promise<Peer & { accepted(): number }> {
  let n = 0;
  const peer = await startServer((s) => {
    n++;
    s.setNoDelay(true);
    onSocket(s);
  });
  return Object.assign(peer, { accepted: () => n });
}

/**
 * Tells a real FIN from an RST that libuv reported as EOF. When an RST arrives while the socket
 * still has unread data, libuv reads the data and then reports EOF on the hang-up without
 * reading the error, so Node emits 'end'. Writing one byte tells them apart: after a FIN the
 * socket is still writable; after an RST the write fails (EPIPE or ECONNRESET).
 */
export function finOrReset(s: Socket): Promise<"end" | "reset"> {
  return new Promise((resolve) => {
    if (s.destroyed || !s.writable) return resolve("end");
    s.write(Buffer.from([0]), (err) => resolve(err ? "reset" : "end"));
  });
}

/** Like endOf() in net.ts, but an 'end' that really was an RST (see finOrReset) says "reset". */
export function endOfProbed(s: Socket, timeoutMs = 10_000): Promise<string> {
  return endOf(s, timeoutMs, finOrReset);
}

export function sha256(): { update(b: Buffer): void; hex(): string } {
  const h = createHash("sha256");
  return { update: (b) => void h.update(b), hex: () => h.digest("hex") };
}

export { seededRandom as seeded } from "./random.js";

/** Waits until `cond()` holds (polling every 5 ms) or throws after `timeoutMs` naming `what`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Binomial bounds: mean ± k standard deviations of n draws at probability p. */
export function binomialBounds(n: number, p: number, k = 5): [number, number] {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return [Math.floor(mean - k * sd), Math.ceil(mean + k * sd)];
}
