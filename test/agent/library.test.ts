// The SPEC's library example, run as written: startAgent + connect, apply with a ttl, clear.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startAgent, connect, RpcError, ErrorCode } from "../../src/index.js";
import { echoServer, dial, roundTrip } from "../support/net.js";

test("startAgent and the typed client drive a proxy; the client binds to its session by default", async () => {
  const echo = await echoServer();
  const agent = await startAgent({ control: "127.0.0.1:0", proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  try {
    assert.match(agent.url, /^ws:\/\/127\.0\.0\.1:\d+\/control$/);
    const ctl = await connect(agent.url);
    const applied = (await ctl.apply("pg", "slow-3g", { ttl: "30s" })) as { profile: string; expiresAt: string };
    assert.equal(applied.profile, "slow-3g");
    assert.ok(Date.parse(applied.expiresAt) > Date.now() + 25_000);
    const [pg] = await ctl.proxies();
    assert.equal(pg!.impairment?.profile, "slow-3g");
    const s = await dial(Number(pg!.listen.split(":")[1]));
    const rtt = await roundTrip(s, 100);
    assert.ok(rtt >= 390, `slow-3g round trip ${rtt.toFixed(0)} ms (rtt 400 ms)`);
    await ctl.clear("pg");
    assert.ok((await roundTrip(s, 100)) < 100);
    s.destroy();
    await assert.rejects(ctl.apply("nope", "3g"), (err: RpcError) => err instanceof RpcError && err.code === ErrorCode.NotFound);
    await ctl.apply("pg", "3g");
    await ctl.close();
    // the client's applies are session-bound by default: closing it reverted the last one
    for (let i = 0; i < 50 && agent.agent.impairment("pg") !== null; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(agent.agent.impairment("pg"), null);
  } finally {
    await agent.close();
    await echo.close();
  }
});
