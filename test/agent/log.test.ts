// The agent's JSON log lines: connection close, control request, impairment change; no token.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { startAgent } from "../../src/index.js";
import { RawRpc } from "../support/rpc.js";
import { echoServer, dial, readBytes, sleep } from "../support/net.js";

test("logs one line per connection close, control request and impairment change, never the token", async () => {
  const lines: Record<string, unknown>[] = [];
  let raw = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw += chunk.toString("utf8");
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const token = "do-not-log-this-token";
  const echo = await echoServer();
  const agent = await startAgent({ token, logLevel: "info", logDestination: sink, proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  const ctl = await RawRpc.open(agent.url, { token });
  try {
    await ctl.ok("impair.apply", { proxy: "pg", profile: "3g", ttl: "10s" });
    await ctl.call("impair.apply", { proxy: "pg", set: { "down.delay": "x" } });
    await ctl.ok("impair.clear", { proxy: "pg" });
    const s = await dial(Number(agent.agent.proxyInfo("pg").listen.split(":")[1]));
    const localPort = s.localPort;
    const got = readBytes(s, 6);
    s.write("abcdef");
    await got;
    s.end();
    await sleep(150);
    s.destroy();

    const requests = lines.filter((l) => l.event === "control.request");
    assert.deepEqual(
      requests.map((r) => `${r.method} ${r.outcome}`),
      ["impair.apply ok", "impair.apply invalid_params", "impair.clear ok"],
    );
    assert.ok(requests.every((r) => typeof r.peer === "string" && (r.peer as string).startsWith("127.0.0.1:")));
    const changes = lines.filter((l) => l.event === "impairment.change");
    assert.deepEqual(
      changes.map((c) => `${c.proxy} ${c.profile} ${c.cause}`),
      ["pg 3g apply", "pg null clear"],
    );
    assert.equal(changes[0]!.ttlMs, 10_000);
    assert.ok(String(changes[0]!.who).startsWith("127.0.0.1:"));
    const closes = lines.filter((l) => l.event === "connection.close");
    assert.equal(closes.length, 1);
    assert.equal(closes[0]!.bytesUp, 6);
    assert.equal(closes[0]!.bytesDown, 6);
    assert.equal(closes[0]!.client, `127.0.0.1:${localPort}`);
    assert.equal(typeof closes[0]!.durationMs, "number");
    assert.ok(Array.isArray(closes[0]!.faults));
    assert.ok(!raw.includes(token), "the token never reaches the log");
  } finally {
    await ctl.close();
    await agent.close();
    await echo.close();
  }
});
