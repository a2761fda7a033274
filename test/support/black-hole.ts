// An upstream whose TCP handshakes never complete: a listener with a tiny accept backlog that a
// blocked worker thread never drains. Once the backlog is full, the kernel drops further SYNs, so
// a dial to it hangs, as a black-holed address would, without sending anything off the box.
import { Worker } from "node:worker_threads";
import net, { type Socket } from "node:net";
import { once } from "node:events";

const WORKER_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
const net = require("node:net");
const server = net.createServer();
server.listen({ host: "127.0.0.1", port: 0, backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  // Block this thread's event loop: nothing is ever accepted until the test lets go.
  Atomics.wait(new Int32Array(workerData), 0, 0, 120000);
  server.close();
  process.exit(0);
});
`;

export interface BlackHole {
  address: string;
  close(): Promise<void>;
}

export async function blackHoleUpstream(): Promise<BlackHole> {
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(WORKER_CODE, { eval: true, workerData: flag });
  worker.on("error", () => {});
  const [port] = (await once(worker, "message")) as [number];
  // Fill the accept queue: dial until a handshake no longer completes.
  const fillers: Socket[] = [];
  for (let i = 0; i < 16; i++) {
    const s = net.connect({ host: "127.0.0.1", port });
    s.on("error", () => {});
    fillers.push(s);
    const connected = await Promise.race([
      once(s, "connect").then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
    ]);
    if (!connected) break;
  }
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const s of fillers) s.destroy();
      const exited = once(worker, "exit");
      const view = new Int32Array(flag);
      Atomics.store(view, 0, 1);
      Atomics.notify(view, 0);
      await exited;
    },
  };
}
