// Fault events in the agent's log are aggregated (docs/reliability.md "Where features meet"):
// corrupt (and loss, stall) are summed per connection and logged once a second and at close,
// however many fire; their counts add up to what /metrics and proxy.list count.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../../src/index.js";
import { spawnAgent } from "../support/agent-process.js";
import { dial, echoServer, sleep } from "../support/net.js";

interface Line {
  event?: string;
  fault?: string;
  count?: number;
  time: number;
}

test("corrupt on a busy connection logs a few summed lines, not one per chunk", { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  const dir = await mkdtemp(join(tmpdir(), "netimpair-fault-log-"));
  const logFile = join(dir, "agent.log");
  const agent = await spawnAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }], logLevel: "info", logFile });
  const ctl = await connect(agent.url, { bindToSession: false });
  try {
    await ctl.apply("pg", "clean", { set: { "corrupt.probability": 0.0001 } });
    const s = await dial(agent.port("pg"));
    s.resume();
    const chunk = Buffer.alloc(64 * 1024, 1);
    const end = performance.now() + 3000;
    while (performance.now() < end) {
      if (!s.write(chunk)) await new Promise((r) => s.once("drain", r));
    }
    await sleep(300);
    s.end();
    await new Promise((r) => s.once("close", r));
    await sleep(300);
    const stats = (await ctl.info()).proxies[0]!.stats;
    const lines = (await readFile(logFile, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line)
      .filter((l) => l.event === "fault" && l.fault === "corrupt");
    const total = lines.reduce((n, l) => n + (l.count ?? 1), 0);
    console.log(`corrupt: ${stats.faults.corrupt} bytes corrupted over 3 s, ${lines.length} log lines`);
    assert.ok(stats.faults.corrupt > 100, `corrupt fired often (${stats.faults.corrupt})`);
    assert.ok(lines.length <= 12, `${lines.length} fault lines for 3 s (one a second per connection and direction, and at close)`);
    assert.equal(total, stats.faults.corrupt, "the summed counts add up to the proxy's fault count");
  } finally {
    await ctl.close();
    await agent.stop();
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  }
});
