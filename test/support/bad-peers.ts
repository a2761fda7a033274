// Upstreams that misbehave, for the reliability tests (not a test file): one that accepts and
// never answers, one that resets mid-stream, one that trickles a byte a second, and a firehose
// that pushes up to a given number of bytes as fast as the connection takes them.
import type { Socket } from "node:net";
import { startServer, type Peer } from "./net.js";

/** Accepts, reads nothing, answers nothing. */
export function silentUpstream(): Promise<Peer> {
  return startServer((s) => s.pause());
}

/** Sends `before` bytes, then resets the connection (RST). */
export function resettingUpstream(before = 32 * 1024): Promise<Peer> {
  return startServer((s) => {
    s.write(Buffer.alloc(before, 0x61), () => s.resetAndDestroy());
  });
}

/** Sends one byte every `everyMs` (default a second) for as long as the connection lives. */
export function tricklingUpstream(everyMs = 1000): Promise<Peer> {
  return startServer((s) => {
    s.resume();
    const timer = setInterval(() => {
      if (s.writable) s.write("t");
    }, everyMs);
    s.on("close", () => clearInterval(timer));
  });
}

export interface Firehose extends Peer {
  /** bytes the kernel took so far, over every connection */
  pushed(): number;
}

/** Writes up to `total` bytes into each connection, honouring backpressure (write, wait for drain). */
export async function firehoseUpstream(total: number): Promise<Firehose> {
  let pushed = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const peer = await startServer((s: Socket) => {
    s.resume();
    let sent = 0;
    const pump = (): void => {
      while (sent < total && !s.destroyed) {
        sent += chunk.length;
        pushed += chunk.length;
        if (!s.write(chunk)) return void s.once("drain", pump);
      }
      if (!s.destroyed) s.end();
    };
    pump();
  });
  return { ...peer, pushed: () => pushed };
}
