// request_duration_seconds counts one observation per request answered, also when a pipeline's
// requests are counted together (one queue entry for a chunk of requests while no rule exists,
// and for the requests a rule forwards in one pass): a raw client sends pipelines of PINGs through
// a redis proxy of an agent started by the CLI, and /metrics must show exactly that many, in
// cumulative buckets, with a sum that fits the time the client waited.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { REDIS, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

/** Writes `count` PINGs in one write and waits for `count` PONGs; returns the ms it took. */
async function pings(port: number, count: number): Promise<number> {
  const s = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    s.once("connect", resolve);
    s.once("error", reject);
  });
  const want = "+PONG\r\n".repeat(count);
  const t0 = performance.now();
  let heard = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${heard.length / 7} of ${count} PONGs within 10 s`)), 10_000);
    s.on("data", (d: Buffer) => {
      heard += d.toString("latin1");
      if (heard.length >= want.length) {
        clearTimeout(timer);
        resolve();
      }
    });
    s.write("*1\r\n$4\r\nPING\r\n".repeat(count));
  });
  const ms = performance.now() - t0;
  s.destroy();
  assert.equal(heard, want);
  return ms;
}

/** The request_duration_seconds series of proxy rd: buckets by le, sum, count. */
function durations(metrics: string): { buckets: [string, number][]; sum: number; count: number } {
  const buckets: [string, number][] = [];
  let sum = Number.NaN;
  let count = Number.NaN;
  for (const line of metrics.split("\n")) {
    let m = /^netimpair_request_duration_seconds_bucket\{proxy="rd",protocol="redis",le="([^"]+)"\} (\S+)$/.exec(line);
    if (m) buckets.push([m[1]!, Number(m[2])]);
    m = /^netimpair_request_duration_seconds_sum\{proxy="rd",protocol="redis"\} (\S+)$/.exec(line);
    if (m) sum = Number(m[1]);
    m = /^netimpair_request_duration_seconds_count\{proxy="rd",protocol="redis"\} (\S+)$/.exec(line);
    if (m) count = Number(m[1]);
  }
  return { buckets, sum, count };
}

describe("request_duration_seconds counts every request of a pipeline (CLI agent)", () => {
  let agent: CliAgent;
  const metrics = async (): Promise<string> => (await fetch(agent.url.replace(/^ws/, "http").replace(/\/control$/, "/metrics"))).text();

  before(async () => {
    await requireService(REDIS);
    agent = await startCliAgent([`rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`]);
  });

  after(async () => {
    await agent?.close();
  });

  test("no rule, then a rule that never matches: one observation per PING, buckets cumulative", async () => {
    const waited = await pings(agent.port("rd"), 300);
    let d = durations(await metrics());
    assert.equal(d.count, 300, "no rule: 300 PINGs, 300 observations");
    await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "HSET", key: "t_db14dur_never:*" }, fail: { error: "OOM" } }] } });
    const waitedWithRule = await pings(agent.port("rd"), 200);
    d = durations(await metrics());
    assert.equal(d.count, 500, "a non-matching rule: 200 more");
    assert.equal(d.buckets.at(-1)?.[0], "+Inf");
    assert.equal(d.buckets.at(-1)?.[1], 500, "the +Inf bucket holds every observation");
    for (let i = 1; i < d.buckets.length; i++) assert.ok(d.buckets[i]![1] >= d.buckets[i - 1]![1], `buckets cumulative: ${JSON.stringify(d.buckets)}`);
    // every answer came within the time the client waited for all of them
    assert.ok(d.sum > 0 && d.sum <= ((waited * 300 + waitedWithRule * 200) / 1000) * 1.5 + 0.05, `sum ${d.sum} s for waits of ${waited.toFixed(1)} and ${waitedWithRule.toFixed(1)} ms`);
  });
});
