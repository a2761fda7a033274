// The demo's local upstream: a tiny measurement protocol on one TCP port.
//   'P' + 63 bytes      -> echoes 64 bytes (a ping)
//   'D' + u32 length    -> sends `length` bytes down
//   'U' + u32 length    -> reads `length` bytes, then answers 'K' + f64 ms between first and last byte
import net, { type AddressInfo, type Server, type Socket } from "node:net";
import { once } from "node:events";
import { performance } from "node:perf_hooks";

export interface MeasureUpstream {
  port: number;
  close(): Promise<void>;
}

export async function startMeasureUpstream(): Promise<MeasureUpstream> {
  const sockets = new Set<Socket>();
  const server: Server = net.createServer({ noDelay: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    serve(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serve(s: Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  let upload: { left: number; first: number; last: number } | null = null;
  s.on("data", (chunk: Buffer) => {
    if (upload !== null) {
      const now = performance.now();
      if (upload.first < 0) upload.first = now;
      upload.last = now;
      const used = Math.min(chunk.length, upload.left);
      upload.left -= used;
      chunk = chunk.subarray(used);
      if (upload.left > 0) return;
      const answer = Buffer.alloc(9);
      answer.write("K");
      answer.writeDoubleBE(upload.last - upload.first, 1);
      upload = null;
      s.write(answer);
    }
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length > 0) {
      const op = String.fromCharCode(pending[0]!);
      if (op === "P") {
        if (pending.length < 64) return;
        s.write(pending.subarray(0, 64));
        pending = pending.subarray(64);
      } else if (op === "D" || op === "U") {
        if (pending.length < 5) return;
        const length = pending.readUInt32BE(1);
        pending = pending.subarray(5);
        if (op === "D") s.write(Buffer.alloc(length, 0x61));
        else {
          upload = { left: length, first: -1, last: -1 };
          const used = Math.min(pending.length, length);
          if (used > 0) {
            upload.first = upload.last = performance.now();
            upload.left -= used;
            pending = pending.subarray(used);
          }
          if (upload.left === 0) {
            const answer = Buffer.alloc(9);
            answer.write("K");
            answer.writeDoubleBE(0, 1);
            s.write(answer);
            upload = null;
          }
          return;
        }
      } else {
        s.destroy();
        return;
      }
    }
  });
}
