// Loopback peers and socket helpers shared by the tests (not a test file itself).
import net, { type AddressInfo, type Server, type Socket } from "node:net";
import { once } from "node:events";

export interface Peer {
  server: Server;
  port: number;
  address: string;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

/** Starts a TCP server on 127.0.0.1:0 whose connections are handled by `onSocket`. */
export async function startServer(onSocket: (s: Socket) => void, opts: net.ServerOpts = {}): Promise<Peer> {
  const sockets = new Set<Socket>();
  const server = net.createServer({ allowHalfOpen: true, ...opts }, (s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    onSocket(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    address: `127.0.0.1:${port}`,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An echo server: writes back what it reads, ends when the client ends. */
export function echoServer(): Promise<Peer> {
  return startServer((s) => {
    s.setNoDelay(true);
    s.pipe(s);
  });
}

/**
 * Connects to 127.0.0.1:port with noDelay and an error listener; `localAddress` (127.0.0.2, ...)
 * makes the connection come from another client address on loopback.
 */
export async function dial(port: number, host = "127.0.0.1", localAddress?: string): Promise<Socket> {
  const s = net.connect({ host, port, noDelay: true, allowHalfOpen: true, ...(localAddress ? { localAddress } : {}) });
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

/** Reads until `n` bytes have arrived (or the socket ends); resolves with the bytes. */
export function readBytes(s: Socket, n: number, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (err?: Error): void => {
      clearTimeout(timer);
      s.off("data", onData);
      s.off("end", onEnd);
      s.off("close", onEnd);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, got));
    };
    const onData = (c: Buffer): void => {
      chunks.push(c);
      got += c.length;
      if (got >= n) done();
    };
    const onEnd = (): void => done();
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms with ${got}/${n} bytes`)), timeoutMs);
    s.on("data", onData);
    s.once("end", onEnd);
    s.once("close", onEnd);
  });
}

/** Milliseconds for one write of `size` bytes to come back through an echo path. */
export async function roundTrip(s: Socket, size = 64): Promise<number> {
  const payload = Buffer.alloc(size, 7);
  const t0 = performance.now();
  const got = readBytes(s, size);
  s.write(payload);
  await got;
  return performance.now() - t0;
}

/**
 * Resolves with how the socket ended: "end" (FIN), "reset" (ECONNRESET), "error:CODE" or "close".
 * `onEnd` may look closer at an 'end' (an RST can surface as one) and name it.
 */
export function endOf(s: Socket, timeoutMs = 10_000, onEnd?: (s: Socket) => Promise<string>): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (how: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(how);
    };
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    s.on("error", (err: NodeJS.ErrnoException) => finish(err.code === "ECONNRESET" ? "reset" : `error:${err.code}`));
    s.on("end", () => (onEnd ? void onEnd(s).then(finish) : finish("end")));
    s.on("close", () => finish("close"));
    s.resume();
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a server the test starts in another process). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
