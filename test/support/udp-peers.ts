// UDP peers for the udp proxy tests and benchmark (not a test file itself): an echo server, a
// statsd-like sink that records what arrives (payload, time), and a client socket.
import dgram, { type Socket } from "node:dgram";

export interface UdpPeer {
  port: number;
  socket: Socket;
  close(): Promise<void>;
}

async function bound(onMessage: (s: Socket, msg: Buffer, port: number, address: string) => void): Promise<UdpPeer> {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (msg, rinfo) => onMessage(socket, msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  try {
    socket.setRecvBufferSize(8 * 1024 * 1024);
  } catch {
    // the kernel's limit is kept
  }
  return { port: socket.address().port, socket, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}

/** Sends every datagram back to where it came from. */
export function udpEcho(): Promise<UdpPeer> {
  return bound((s, msg, port, address) => s.send(msg, port, address));
}

export interface Arrival {
  text: string;
  bytes: number;
  at: number;
}

/** A statsd-like sink: keeps what arrives (the text of the datagram, its size, when). */
export async function udpSink(): Promise<UdpPeer & { arrivals: Arrival[] }> {
  const arrivals: Arrival[] = [];
  const peer = await bound((_s, msg) => arrivals.push({ text: msg.subarray(0, 64).toString(), bytes: msg.length, at: performance.now() }));
  return { ...peer, arrivals };
}

/** A client socket on 127.0.0.1 (a port of its own: one flow). */
export async function udpClient(): Promise<UdpPeer & { received: Arrival[] }> {
  const received: Arrival[] = [];
  const peer = await bound((_s, msg) => received.push({ text: msg.subarray(0, 64).toString(), bytes: msg.length, at: performance.now() }));
  return { ...peer, received };
}

/** Sends `count` datagrams `make(i)` to port, `perTick` at a time with a pause of `pauseMs` between (the agent's socket buffer is not flooded). */
export async function sendPaced(socket: Socket, port: number, count: number, make: (i: number) => Buffer, perTick = 50, pauseMs = 1): Promise<void> {
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) => socket.send(make(i), port, "127.0.0.1", (err) => (err ? reject(err) : resolve())));
    if ((i + 1) % perTick === 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

export function waitFor(check: () => boolean, timeoutMs = 10_000, stepMs = 20): Promise<boolean> {
  return new Promise((resolve) => {
    const until = Date.now() + timeoutMs;
    const tick = (): void => {
      if (check()) return resolve(true);
      if (Date.now() > until) return resolve(false);
      setTimeout(tick, stepMs);
    };
    tick();
  });
}

/** Waits until `count()` stops changing for `quietMs`. */
export async function settle(count: () => number, quietMs = 300, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < until) {
    const n = count();
    if (n === last) return;
    last = n;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}
