// Worker process for many-connection rate checks: as the upstream, a server writing to every
// accepted connection (flat out, or paced at a rate per connection, one 1 ms tick for all); as
// the clients, N connections to a port counting the bytes each one receives.
import net, { type AddressInfo, type Server, type Socket } from "node:net";
import { once } from "node:events";
import { serve } from "./ipc.js";

const CHUNK = Buffer.alloc(64 * 1024, 0x44);
let server: Server | null = null;
const served = new Set<Socket>();
let pacer: NodeJS.Timeout | null = null;
const clients: Socket[] = [];
let counts: number[] = [];

function flatOut(s: Socket): void {
  const pump = (): void => {
    while (!s.destroyed) if (!s.write(CHUNK)) return;
  };
  s.on("drain", pump);
  pump();
}

/** One tick for all connections: each gets what its rate owes since the last tick. */
function startPacer(bps: number): void {
  let last = performance.now();
  const owed = new Map<Socket, number>();
  pacer = setInterval(() => {
    const now = performance.now();
    const add = ((now - last) * bps) / 8000;
    last = now;
    for (const s of served) {
      const o = (owed.get(s) ?? 0) + add;
      const n = Math.floor(o);
      if (n > 0 && s.writableLength < 256 * 1024) {
        s.write(CHUNK.subarray(0, Math.min(n, CHUNK.length)));
        owed.set(s, o - Math.min(n, CHUNK.length));
      } else owed.set(s, o);
    }
  }, 1);
}

serve({
  /** the upstream: writes to every connection, flat out (bps null) or paced at bps each */
  async listen(args: { bps: number | null }): Promise<{ port: number }> {
    server = net.createServer({ noDelay: true }, (s) => {
      served.add(s);
      s.on("error", () => {});
      s.on("close", () => served.delete(s));
      s.resume();
      if (args.bps === null) flatOut(s);
    });
    server.on("error", () => {});
    server.listen({ host: "127.0.0.1", port: 0, backlog: 1024 });
    await once(server, "listening");
    if (args.bps !== null) startPacer(args.bps);
    return { port: (server.address() as AddressInfo).port };
  },
  /** the clients: `count` connections to port, each counting what it receives */
  async open(args: { port: number; count: number }): Promise<{ opened: number }> {
    counts = new Array<number>(args.count).fill(0);
    await Promise.all(
      Array.from({ length: args.count }, async (_, i) => {
        const s = net.connect({ host: "127.0.0.1", port: args.port, noDelay: true });
        s.on("error", () => {});
        s.on("data", (c: Buffer) => (counts[i]! += c.length));
        await once(s, "connect");
        clients.push(s);
      }),
    );
    return { opened: clients.length };
  },
  /** bytes received so far by each client connection, and when (ms) */
  counts(): { at: number; bytes: number[] } {
    return { at: performance.now(), bytes: [...counts] };
  },
  close(): null {
    for (const s of clients) s.destroy();
    clients.length = 0;
    for (const s of served) s.destroy();
    if (pacer !== null) clearInterval(pacer);
    server?.close();
    return null;
  },
});
