// Worker process: many client connections to one port, idle or busy (writing flat out).
// Clients live here so the relay's process holds only its own two sockets per connection.
import net, { type Socket } from "node:net";
import { serve } from "./ipc.js";

const sockets: Socket[] = [];
const errors: Record<string, number> = {};
let closedEarly = 0;

function countError(err: NodeJS.ErrnoException): void {
  const code = err.code ?? err.message;
  errors[code] = (errors[code] ?? 0) + 1;
}

function openOne(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port, noDelay: true });
    let settled = false;
    s.on("error", (err: NodeJS.ErrnoException) => {
      countError(err);
      if (!settled) {
        settled = true;
        resolve(null);
      }
    });
    s.once("connect", () => {
      settled = true;
      resolve(s);
    });
    s.on("close", () => {
      if (settled) closedEarly++;
    });
    s.on("data", () => {});
  });
}

export interface OpenResult {
  opened: number;
  failed: number;
  errors: Record<string, number>;
}

serve({
  async open(args: { port: number; count: number; batch: number }): Promise<OpenResult> {
    let failed = 0;
    for (let done = 0; done < args.count; done += args.batch) {
      const n = Math.min(args.batch, args.count - done);
      const got = await Promise.all(Array.from({ length: n }, () => openOne(args.port)));
      for (const s of got) {
        if (s) sockets.push(s);
        else failed++;
      }
    }
    return { opened: sockets.length, failed, errors: { ...errors } };
  },
  /** sockets still open (a relay that hit EMFILE closes some after connect) */
  alive(): { alive: number; closedEarly: number; errors: Record<string, number> } {
    return { alive: sockets.filter((s) => !s.destroyed).length, closedEarly, errors: { ...errors } };
  },
  async busy(args: { count: number; ms: number; chunk: number }): Promise<{ written: number; writers: number }> {
    const chunk = Buffer.alloc(args.chunk, 0x42);
    const live = sockets.filter((s) => !s.destroyed).slice(0, args.count);
    let written = 0;
    let running = true;
    for (const s of live) {
      const pump = (): void => {
        while (running && !s.destroyed) {
          written += chunk.length;
          if (!s.write(chunk)) {
            s.once("drain", pump);
            return;
          }
        }
      };
      pump();
    }
    await new Promise((r) => setTimeout(r, args.ms));
    running = false;
    return { written, writers: live.length };
  },
  closeAll(): number {
    const n = sockets.length;
    for (const s of sockets) s.destroy();
    sockets.length = 0;
    return n;
  },
});
