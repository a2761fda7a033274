// Queue bound: a client that never reads while the upstream pushes 1 GiB. The agent must stop
// reading from the upstream (its writes back up) and its memory must stay bounded, both through
// a shaped link and on the clean fast path.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dial, sleep, startServer } from "../support/net.js";
import { impair, startProxy, writeStream } from "../support/engine.js";
import { streamQueueBound } from "../../src/link/bound.js";
import { cleanDirection } from "../../src/profiles/types.js";
import { LARGE_READ } from "../../src/relay/reader.js";

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

for (const shaped of [true, false]) {
  const label = shaped ? "a 100 Mbps link" : "a clean proxy";
  test(`a client that never reads: the upstream's 1 GiB backs up and memory stays bounded, through ${label}`, async () => {
    let writer: ReturnType<typeof writeStream> | null = null as ReturnType<typeof writeStream> | null;
    const upstream = await startServer((s) => {
      writer = writeStream(s, GiB, { chunk: 64 * 1024 });
    });
    const p = await startProxy(upstream.address);
    if (shaped) impair(p.proxy, (s) => ((s.down.bandwidth = 100e6), (s.up.bandwidth = 100e6)));
    const before = process.memoryUsage();
    const c = await dial(p.port); // never reads: no 'data' listener, so it stops reading at its high-water mark
    try {
      // Wait until the upstream's writes stop growing (its socket is backed up all the way).
      let last = -1;
      let stableSince = performance.now();
      const t0 = performance.now();
      for (;;) {
        await sleep(100);
        const now = writer?.written() ?? 0;
        if (now !== last) {
          last = now;
          stableSince = performance.now();
        } else if (performance.now() - stableSince >= 700) break;
        assert.ok(performance.now() - t0 < 15_000, `the upstream never stopped: ${(now / MiB).toFixed(1)} MiB written`);
      }
      const written = writer?.written() ?? 0;
      const stats = p.proxy.stats();
      const after = process.memoryUsage();
      const rssGrowth = after.rss - before.rss;
      const bufGrowth = after.arrayBuffers - before.arrayBuffers;
      console.log(
        `# ${label}: upstream stopped after ${(written / MiB).toFixed(1)} MiB; agent queue ${stats.queueDown} B; ` +
          `rss +${(rssGrowth / MiB).toFixed(1)} MiB, arrayBuffers +${(bufGrowth / MiB).toFixed(1)} MiB`,
      );
      assert.ok(written < 128 * MiB, `the upstream wrote ${(written / MiB).toFixed(1)} MiB: nothing paused it`);
      assert.ok(rssGrowth < 64 * MiB, `rss grew ${(rssGrowth / MiB).toFixed(1)} MiB`);
      assert.ok(bufGrowth < 64 * MiB, `arrayBuffers grew ${(bufGrowth / MiB).toFixed(1)} MiB`);
      if (shaped) {
        assert.ok(stats.queueDown > 0, "the link holds bytes");
        // its bound (20 ms at 100 Mbps: 250 kB), and the reads that may land past it (three, as
        // the 256 KiB this allowed when the bound was 64 KiB)
        const bound = streamQueueBound({ ...cleanDirection(), bandwidth: 100e6 }) + 3 * LARGE_READ;
        assert.ok(stats.queueDown <= bound, `the link holds ${stats.queueDown} B, beyond its bound (${bound} B with three reads)`);
      } else {
        assert.equal(stats.queueDown, 0, "the fast path queues nothing");
      }
      // Still stopped a little later: the pause holds.
      await sleep(300);
      assert.equal(writer?.written(), written, "the upstream stays paused");
    } finally {
      writer?.stop();
      c.destroy();
      await p.close();
      await upstream.close();
    }
  });
}
