// A reset right after a FIN (end()) in the same tick: libuv refuses the RST while the shutdown
// is pending and Node then dropped the handle unclosed (no 'close', one fd leaked per connection;
// seen as connections stuck "closing" behind upstreams that send a FIN and reset). The reset
// must still end the socket: 'close' fires and the fd is given back.
import { test } from "node:test";
import assert from "node:assert/strict";
import net, { type Socket } from "node:net";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import { sendReset } from "../../src/faults/reset.js";
import { startServer } from "../support/net.js";

const openFds = (): number => readdirSync("/proc/self/fd").length;

test("sendReset right after end() closes the socket and gives its fd back", async () => {
  const accepted: Socket[] = [];
  const server = await startServer((s) => accepted.push(s));
  const clients: Socket[] = [];
  try {
    const before = openFds();
    const closes: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const c = net.connect({ host: "127.0.0.1", port: server.port });
      c.on("error", () => {});
      clients.push(c);
      await once(c, "connect");
      while (accepted.length <= i) await new Promise((r) => setImmediate(r));
      const s = accepted[i]!;
      const closed = once(s, "close");
      closes.push(closed);
      s.end("bye");
      if (i % 2 === 0) sendReset(s);
      else process.nextTick(() => sendReset(s));
    }
    const all = await Promise.race([Promise.all(closes).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    assert.ok(all, "every reset socket emitted 'close'");
    for (const c of clients) c.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(openFds() <= before, `fds back to ${before} (now ${openFds()})`);
  } finally {
    for (const c of clients) c.destroy();
    await server.close();
  }
});
