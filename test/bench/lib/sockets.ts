// Loopback endpoints for the benchmarks: sinks, echo servers, dialing, bulk writers.
import net, { type AddressInfo, type Server, type Socket } from "node:net";
import { once } from "node:events";

export interface Endpoint {
  server: Server;
  port: number;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1:0 (every socket gets an error listener and is tracked). */
export async function listen(onSocket: (s: Socket) => void): Promise<Endpoint> {
  const sockets = new Set<Socket>();
  const server = net.createServer({ noDelay: true, allowHalfOpen: false }, (s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    onSocket(s);
  });
  server.on("error", () => {}); // EMFILE on accept: counted by the clients, never fatal
  server.maxConnections = 0;
  server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 });
  await once(server, "listening");
  return {
    server,
    port: (server.address() as AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A server that reads and discards, counting bytes. */
export async function sink(): Promise<Endpoint & { bytes(): number }> {
  let total = 0;
  const ep = await listen((s) => {
    s.on("data", (c: Buffer) => {
      total += c.length;
    });
  });
  return { ...ep, bytes: () => total };
}

/** A server that writes back what it reads. */
export function echo(): Promise<Endpoint> {
  return listen((s) => {
    s.setNoDelay(true);
    s.on("data", (c: Buffer) => s.write(c));
  });
}

/** Connects to 127.0.0.1:port (noDelay, with an error listener). */
export async function dial(port: number): Promise<Socket> {
  const s = net.connect({ host: "127.0.0.1", port, noDelay: true });
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

/** Writes `chunk` as fast as backpressure allows until stop() is called; counts bytes written. */
export function bulkWriter(s: Socket, chunk: Buffer): { written(): number; stop(): void } {
  let written = 0;
  let running = true;
  const pump = (): void => {
    while (running) {
      written += chunk.length;
      if (!s.write(chunk)) {
        s.once("drain", pump);
        return;
      }
    }
  };
  pump();
  return {
    written: () => written,
    stop: () => {
      running = false;
    },
  };
}

/** Writes at `bps` on average, a piece each millisecond tick (for a relay baseline at a set rate). */
export function pacedWriter(s: Socket, bps: number): { stop(): void } {
  let last = performance.now();
  let owed = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    owed += ((now - last) * bps) / 8000;
    last = now;
    const n = Math.floor(owed);
    if (n > 0 && s.writableLength < 4 * 2 ** 20) {
      s.write(Buffer.allocUnsafe(n).fill(0x70));
      owed -= n;
    }
  }, 1);
  return { stop: () => clearInterval(timer) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
