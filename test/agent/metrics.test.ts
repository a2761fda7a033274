// /metrics against what really went through the proxy, read while the connection is open.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { startAgent } from "../../src/index.js";
import { RawRpc } from "../support/rpc.js";
import { echoServer, dial, readBytes, roundTrip, sleep } from "../support/net.js";

function scrape(httpUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${httpUrl}/metrics`, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The value of one sample, matched by name and exact label set; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const pair of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[pair[1]!] = pair[2]!;
    const keys = Object.keys(labels);
    if (keys.length === Object.keys(got).length && keys.every((k) => got[k] === labels[k])) return Number(m[3]);
  }
  return undefined;
}

test("metrics count bytes, connections, impairment and control requests while traffic flows", async () => {
  const echo = await echoServer();
  const agent = await startAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  const ctl = await RawRpc.open(agent.url);
  try {
    const port = Number(agent.agent.proxyInfo("pg").listen.split(":")[1]);
    const s = await dial(port);
    const sizes = [1000, 25_000, 3];
    let total = 0;
    for (const n of sizes) {
      const got = readBytes(s, n);
      s.write(Buffer.alloc(n, 9));
      await got;
      total += n;
    }
    let text = await scrape(agent.httpUrl);
    assert.equal(sample(text, "netimpair_bytes_total", { proxy: "pg", direction: "up" }), total);
    assert.equal(sample(text, "netimpair_bytes_total", { proxy: "pg", direction: "down" }), total);
    assert.equal(sample(text, "netimpair_connections_active", { proxy: "pg" }), 1);
    assert.equal(sample(text, "netimpair_connections_total", { proxy: "pg" }), 1);
    assert.equal(sample(text, "netimpair_faults_total", { proxy: "pg", fault: "reset" }), 0);
    assert.equal(sample(text, "netimpair_queue_bytes", { proxy: "pg", direction: "down" }), 0);
    assert.equal(sample(text, "netimpair_impairment_active", { proxy: "pg", profile: "3g" }), undefined);
    assert.ok(text.includes("process_cpu_user_seconds_total"), "default process metrics are there");

    await ctl.ok("impair.apply", { proxy: "pg", profile: "clean", set: { "down.delay": "30ms" } });
    const rtt = await roundTrip(s, 100);
    assert.ok(rtt >= 28, `impaired round trip ${rtt}`);
    total += 100;
    await ctl.ok("impair.apply", { proxy: "pg", profile: "3g" });
    await ctl.call("no.such.method");
    text = await scrape(agent.httpUrl);
    assert.equal(sample(text, "netimpair_bytes_total", { proxy: "pg", direction: "up" }), total);
    assert.equal(sample(text, "netimpair_impairment_active", { proxy: "pg", profile: "3g" }), 1);
    assert.equal(sample(text, "netimpair_impairment_active", { proxy: "pg", profile: "clean" }), undefined, "only the current one");
    assert.equal(sample(text, "netimpair_control_requests_total", { method: "impair.apply", outcome: "ok" }), 2);
    assert.equal(sample(text, "netimpair_control_requests_total", { method: "(unknown)", outcome: "method_not_found" }), 1);
    const delays = sample(text, "netimpair_delay_seconds_count", { proxy: "pg", direction: "down" });
    assert.ok(delays !== undefined && delays >= 1, `delay histogram fed: ${delays}`);
    const sum = sample(text, "netimpair_delay_seconds_sum", { proxy: "pg", direction: "down" })!;
    assert.ok(sum >= 0.028, `time inside the agent at least the delay: ${sum}`);
    await ctl.ok("impair.clear", { proxy: "pg" });

    // a reset counts as a fault; a deleted proxy's series go with it, and one created again
    // under the same name counts from 0 (a counter reset, as Prometheus reads it)
    s.destroy();
    await sleep(50);
    await ctl.ok("proxy.delete", { name: "pg" });
    text = await scrape(agent.httpUrl);
    assert.equal(sample(text, "netimpair_bytes_total", { proxy: "pg", direction: "up" }), undefined, "dropped with the proxy");
    const created = await ctl.ok<{ listen: string }>("proxy.create", { name: "pg", listen: "127.0.0.1:0", upstream: echo.address });
    const s2 = await dial(Number(created.listen.split(":")[1]));
    const got = readBytes(s2, 10);
    s2.write(Buffer.alloc(10));
    await got;
    text = await scrape(agent.httpUrl);
    assert.equal(sample(text, "netimpair_bytes_total", { proxy: "pg", direction: "up" }), 10);
    assert.equal(sample(text, "netimpair_connections_total", { proxy: "pg" }), 1);
    assert.equal(sample(text, "netimpair_connections_active", { proxy: "pg" }), 1);
    assert.equal(sample(text, "netimpair_impairment_active", { proxy: "pg", profile: "3g" }), undefined);
    await ctl.ok("impair.apply", { proxy: "pg", profile: "clean", set: { "reset.after": 0 } });
    await sleep(100);
    text = await scrape(agent.httpUrl);
    assert.equal(sample(text, "netimpair_faults_total", { proxy: "pg", fault: "reset" }), 1);
    assert.equal(sample(text, "netimpair_connections_active", { proxy: "pg" }), 0);
    s2.destroy();
  } finally {
    await ctl.close();
    await agent.close();
    await echo.close();
  }
});
