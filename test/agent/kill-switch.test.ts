// The kill switch and clear remove Toxiproxy toxics too, and toxics show wherever an
// impairment shows (status, proxy.list, /metrics, events, the log with who and what). Against
// an agent started by the CLI, toxics added over its Toxiproxy HTTP API, traffic over loopback.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../../src/control/client.js";
import type { EventNotification, ImpairmentEventData, ProxyInfo } from "../../src/control/protocol.js";
import { runCli } from "../support/cli.js";
import { startCliAgent } from "../support/cli-agent.js";
import { dial, echoServer, roundTrip } from "../support/net.js";
import { call } from "../toxiproxy/harness.js";

function portOf(p: ProxyInfo): number {
  return Number(p.listen.slice(p.listen.lastIndexOf(":") + 1));
}

async function scrape(httpUrl: string): Promise<string> {
  return (await fetch(`${httpUrl}/metrics`)).text();
}

test("panic and clear remove Toxiproxy toxics and say so; status, metrics, events and the log show them", async () => {
  const echo = await echoServer();
  const agent = await startCliAgent(["--proxy", `pg=127.0.0.1:0,${echo.address}`, "--proxy", `redis=127.0.0.1:0,${echo.address}`]);
  const watcher = await connect(agent.url, { bindToSession: false });
  const events: EventNotification[] = [];
  try {
    await watcher.subscribe(["impairments"], (ev) => events.push(ev));
    const added = await call(agent.httpUrl, "POST", "/proxies/redis/toxics", { type: "latency", attributes: { latency: 300 } });
    assert.equal(added.status, 200, added.text);
    const timeout = await call(agent.httpUrl, "POST", "/proxies/redis/toxics", { name: "stop_up", type: "timeout", stream: "upstream", attributes: { timeout: 0 }, toxicity: 0 });
    assert.equal(timeout.status, 200, timeout.text);

    const redis = (await watcher.proxies()).find((p) => p.name === "redis")!;
    assert.deepEqual(
      redis.toxics.map((t) => [t.name, t.type, t.stream]),
      [
        ["stop_up", "timeout", "upstream"],
        ["latency_downstream", "latency", "downstream"],
      ],
      "proxy.list carries the toxics",
    );
    const s = await dial(portOf(redis));
    const slow = await roundTrip(s);
    assert.ok(slow >= 290, `the latency toxic acts: ${slow.toFixed(0)} ms`);

    // status (table and --json) and /metrics
    const status = await runCli(["--agent", agent.url, "status"]);
    assert.equal(status.code, 0, status.stderr);
    const row = status.stdout.split("\n").find((l) => /\bredis\b/.test(l))!;
    assert.match(row, /toxics: stop_up\(timeout\), latency_downstream/, status.stdout);
    const json = await runCli(["--json", "--agent", agent.url, "status"]);
    const listed = (JSON.parse(json.stdout) as ProxyInfo[]).find((p) => p.name === "redis")!;
    assert.equal(listed.toxics.length, 2);
    let metrics = await scrape(agent.httpUrl);
    assert.match(metrics, /netimpair_impairment_active\{proxy="redis",profile="toxiproxy"\} 1/);
    assert.doesNotMatch(metrics, /netimpair_impairment_active\{proxy="pg"/);

    // the log says who added what
    const addLine = await agent.waitForLog((l) => l.event === "impairment.change" && l.cause === "toxic.add" && (l.toxic as { name?: string } | null)?.name === "latency_downstream");
    assert.match(String(addLine.who), /^127\.0\.0\.1:\d+ \(toxiproxy api\)$/);
    assert.deepEqual((addLine.toxic as { attributes: Record<string, unknown> }).attributes.latency, 300);
    const upd = await call(agent.httpUrl, "PATCH", "/proxies/redis/toxics/stop_up", { toxicity: 0 });
    assert.equal(upd.status, 200, upd.text);
    await agent.waitForLog((l) => l.event === "impairment.change" && l.cause === "toxic.update" && (l.toxic as { name?: string } | null)?.name === "stop_up");

    // the kill switch: an applied profile on pg, the toxics on redis; both go, and it says what went
    const applied = await runCli(["--agent", agent.url, "apply", "3g", "--proxy", "pg"]);
    assert.equal(applied.code, 0, applied.stderr);
    const panic = await runCli(["--agent", agent.url, "panic"]);
    assert.equal(panic.code, 0, panic.stderr);
    assert.match(panic.stdout, /panic: removed profile 3g from pg; toxics stop_up, latency_downstream from redis/);
    const after = await call(agent.httpUrl, "GET", "/proxies/redis/toxics");
    assert.deepEqual(after.json, [], "no toxic left");
    const fast = await roundTrip(s);
    assert.ok(fast < 150, `the link is clean again: ${fast.toFixed(0)} ms`);
    const panicLine = await agent.waitForLog((l) => l.event === "impairment.change" && l.cause === "panic" && l.proxy === "redis");
    assert.deepEqual(
      (panicLine.removed as { name: string }[]).map((t) => t.name),
      ["stop_up", "latency_downstream"],
    );
    metrics = await scrape(agent.httpUrl);
    assert.doesNotMatch(metrics, /netimpair_impairment_active\{/, "nothing impaired any more");
    const quiet = await runCli(["--agent", agent.url, "panic"]);
    assert.match(quiet.stdout, /panic: nothing was impaired \(pg, redis clean\)/);

    // clear --proxy redis removes the toxics of that proxy only, and says so
    await call(agent.httpUrl, "POST", "/proxies/redis/toxics", { type: "latency", attributes: { latency: 300 } });
    await call(agent.httpUrl, "POST", "/proxies/pg/toxics", { type: "latency", attributes: { latency: 50 } });
    const cleared = await runCli(["--agent", agent.url, "clear", "--proxy", "redis"]);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /^redis: cleared, removed toxic latency_downstream$/m);
    assert.deepEqual((await call(agent.httpUrl, "GET", "/proxies/redis/toxics")).json, []);
    assert.equal(((await call(agent.httpUrl, "GET", "/proxies/pg/toxics")).json as unknown[]).length, 1, "pg keeps its toxic");
    assert.ok((await roundTrip(s)) < 150, "redis is clean");
    const clearJson = await runCli(["--json", "--agent", agent.url, "clear", "--proxy", "pg"]);
    assert.deepEqual((JSON.parse(clearJson.stdout) as { removed: unknown[] }).removed, [{ proxy: "pg", profile: null, toxics: ["latency_downstream"] }]);

    // /reset is logged too
    await call(agent.httpUrl, "POST", "/proxies/redis/toxics", { type: "latency", attributes: { latency: 10 } });
    assert.equal((await call(agent.httpUrl, "POST", "/reset")).status, 204);
    await agent.waitForLog((l) => l.event === "impairment.change" && l.cause === "toxiproxy.reset" && l.proxy === "redis");

    // events: every change came through the impairments topic, with who and what
    const causes = events.filter((e) => e.proxy === "redis").map((e) => (e.data as ImpairmentEventData).cause);
    assert.deepEqual(causes, ["toxic.add", "toxic.add", "toxic.update", "panic", "toxic.add", "clear", "toxic.add", "toxiproxy.reset"]);
    const first = events[0]!.data as ImpairmentEventData;
    assert.equal(first.toxic?.type, "latency");
    assert.match(first.who, /toxiproxy api/);
    s.destroy();
  } finally {
    await watcher.close();
    await agent.stop();
    await echo.close();
  }
});
