// POST /populate is all or nothing: a list that fails part way (a port in use) leaves the
// proxies exactly as they were: none created, none moved, none re-pointed, toxics kept.
import { test } from "node:test";
import assert from "node:assert/strict";
import net, { type AddressInfo } from "node:net";
import { once } from "node:events";
import { startCliAgent } from "../support/cli-agent.js";
import { echoServer, dial, roundTrip } from "../support/net.js";
import { call, portOf } from "./harness.js";

interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: { name: string }[];
}

test("a failing /populate leaves every proxy exactly as it was", async () => {
  const echo = await echoServer();
  const other = await echoServer();
  const squatter = net.createServer();
  squatter.listen(0, "127.0.0.1");
  await once(squatter, "listening");
  const taken = `127.0.0.1:${(squatter.address() as AddressInfo).port}`;
  const agent = await startCliAgent(["--proxy", `pg=127.0.0.1:0,${echo.address}`, "--proxy", `redis=127.0.0.1:0,${echo.address}`]);
  try {
    assert.equal((await call(agent.httpUrl, "POST", "/proxies/pg/toxics", { type: "latency", attributes: { latency: 20 } })).status, 200);
    const before = (await call(agent.httpUrl, "GET", "/proxies")).json as Record<string, ProxyJson>;
    const live = await dial(portOf(before.pg!.listen));
    assert.ok((await roundTrip(live)) >= 18, "the toxic acts before");

    const lists = [
      // a new proxy first, then one whose port is taken
      [
        { name: "fresh", listen: "127.0.0.1:0", upstream: echo.address },
        { name: "clash", listen: taken, upstream: echo.address },
      ],
      // an existing proxy moved and re-pointed, another re-pointed, then the clash
      [
        { name: "pg", listen: "127.0.0.1:0", upstream: other.address },
        { name: "redis", listen: before.redis!.listen, upstream: other.address },
        { name: "clash", listen: taken, upstream: echo.address },
      ],
    ];
    for (const list of lists) {
      const r = await call(agent.httpUrl, "POST", "/populate", list);
      assert.equal(r.status, 409, r.text);
      assert.deepEqual(r.json, { error: `listen address ${taken} is already in use`, status: 409, proxies: [] });
      const after = (await call(agent.httpUrl, "GET", "/proxies")).json as Record<string, ProxyJson>;
      assert.deepEqual(after, before, "the proxies are exactly as they were");
    }
    // the proxy still serves on its old port, with its toxic
    const s = await dial(portOf(before.pg!.listen));
    assert.ok((await roundTrip(s)) >= 18, "the toxic still acts");
    s.destroy();
    live.destroy();
    // and a list that can be done is done whole
    const ok = await call(agent.httpUrl, "POST", "/populate", [{ name: "fresh", listen: "127.0.0.1:0", upstream: echo.address }]);
    assert.equal(ok.status, 201, ok.text);
  } finally {
    await agent.stop();
    squatter.close();
    await echo.close();
    await other.close();
  }
});
