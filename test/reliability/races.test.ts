// Two controllers racing on proxies with a host-name listen (docs/reliability.md "Where features
// meet"): whatever order the agent takes them in, the proxy table and the listening ports end in
// agreement, no listener is left under no name (fds back where they were), and an apply that
// lands during a create never leaves a ghost impairment behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawnAgent } from "../support/agent-process.js";
import { RawRpc, type RpcReply } from "../support/rpc.js";
import { echoServer, sleep, startServer } from "../support/net.js";
import { closedPort } from "../support/cli.js";
import { eventually } from "../support/churn.js";

/** True when something accepts TCP connections on localhost:port (IPv4 or IPv6). */
async function listening(port: number): Promise<boolean> {
  const tryHost = (host: string): Promise<boolean> =>
    new Promise((resolve) => {
      const s = net.connect({ host, port });
      s.on("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
  return (await tryHost("127.0.0.1")) || (await tryHost("::1"));
}

interface ProxyRow {
  name: string;
  enabled: boolean;
  impairment: { profile: string } | null;
}

test("create/delete and enable/disable races under two controllers end with the table and the listeners in agreement", { timeout: 120_000 }, async () => {
  const echo = await echoServer();
  const agent = await spawnAgent({});
  const a = await RawRpc.open(agent.url);
  const b = await RawRpc.open(agent.url);
  try {
    const base = await agent.probe();
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const port = await closedPort();
      const [created, deleted] = await Promise.all([
        a.call("proxy.create", { name: "race", listen: `localhost:${port}`, upstream: echo.address }),
        sleep(0).then(() => b.call("proxy.delete", { name: "race" })),
      ]);
      outcomes.push(`create ${created.error ? created.error.code : "ok"} / delete ${deleted.error ? deleted.error.code : "ok"}`);
      const table = (await a.ok<ProxyRow[]>("proxy.list")).map((p) => p.name);
      const inTable = table.includes("race");
      assert.equal(await listening(port), inTable, `try ${i}: ${outcomes.at(-1)}: the table ${inTable ? "has" : "lacks"} the proxy, the port must ${inTable ? "" : "not "}listen`);
      assert.ok(!(created.error === undefined && deleted.error === undefined && inTable), "a delete that answered deleted leaves no proxy");
      if (created.error === undefined && deleted.error !== undefined) assert.ok(inTable, `try ${i}: a create that answered ok is in the table`);
      if (inTable) await a.ok("proxy.delete", { name: "race" });
      assert.equal(await listening(port), false, `try ${i}: after the delete nothing listens on ${port}`);
    }
    console.log(`create/delete race outcomes: ${[...new Set(outcomes)].join(", ")}`);

    const port = await closedPort();
    await a.ok("proxy.create", { name: "flip", listen: `localhost:${port}`, upstream: echo.address, enabled: false });
    const flips: string[] = [];
    for (let i = 0; i < 10; i++) {
      const acks: string[] = [];
      await Promise.all([
        a.call("proxy.update", { name: "flip", enabled: true }).then((r: RpcReply) => acks.push(r.error ? `enable:${r.error.code}` : "enable")),
        sleep(0).then(() => b.call("proxy.update", { name: "flip", enabled: false }).then((r: RpcReply) => acks.push(r.error ? `disable:${r.error.code}` : "disable"))),
      ]);
      flips.push(acks.join(">"));
      const row = (await a.ok<ProxyRow[]>("proxy.list")).find((p) => p.name === "flip")!;
      const last = acks.filter((x) => !x.includes(":")).at(-1);
      assert.equal(row.enabled, last === "enable", `try ${i}: acknowledged ${acks.join(" then ")}, the proxy must be ${last === "enable" ? "enabled" : "disabled"}`);
      assert.equal(await listening(port), row.enabled, `try ${i}: the port listens exactly when the proxy is enabled`);
      if (row.enabled) await a.ok("proxy.update", { name: "flip", enabled: false });
    }
    console.log(`enable/disable race acknowledgements: ${[...new Set(flips)].join(", ")}`);
    await a.ok("proxy.delete", { name: "flip" });

    // an apply landing during a create that then fails: no ghost for a later proxy of that name
    const busy = await startServer(() => {});
    try {
      for (let i = 0; i < 5; i++) {
        const [created, applied] = await Promise.all([
          a.call("proxy.create", { name: "ghost", listen: `localhost:${busy.port}`, upstream: echo.address }),
          sleep(0).then(() => b.call("impair.apply", { proxy: "ghost", profile: "2g" })),
        ]);
        assert.ok(created.error, "the create fails: the port is in use");
        void applied;
      }
      const fresh = await a.ok<ProxyRow>("proxy.create", { name: "ghost", listen: "127.0.0.1:0", upstream: echo.address });
      assert.equal(fresh.impairment, null, "a new proxy of that name starts clean");
      await a.ok("proxy.delete", { name: "ghost" });
    } finally {
      await busy.close();
    }

    assert.ok(
      await eventually(async () => (await agent.probe()).fds <= base.fds, 5000),
      `the agent's fds are back where they were (${base.fds} -> ${(await agent.probe()).fds})`,
    );
  } finally {
    await a.close();
    await b.close();
    await agent.stop();
    await echo.close();
  }
});
