// A connection frozen by `partition` whose client closes after `clear` ends: the client's FIN is
// heard (no CLOSE-WAIT on the agent), the connection leaves the list, and while it lasted it was
// listed as clean once the proxy was. Real sockets through an agent started by the CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { dial, endOf, roundTrip, sleep, startServer } from "../support/net.js";
import { startCliAgent } from "../support/protocol-agent.js";

const run = promisify(execFile);

/** Sockets on the agent's side of `port` (its listen port) in CLOSE-WAIT, as `ss` lists them. */
async function closeWait(port: number): Promise<number> {
  const { stdout } = await run("ss", ["-tanH", "state", "close-wait", `( sport = :${port} )`]);
  return stdout.split("\n").filter((l) => l.trim() !== "").length;
}

test("partition, clear, then the client closes: its FIN is heard and the connection ends (no CLOSE-WAIT)", async () => {
  const upstreamEnds: string[] = [];
  const upstream = await startServer((s) => {
    s.on("data", (d: Buffer) => s.write(d));
    s.once("end", () => upstreamEnds.push("end"));
    s.on("error", () => {});
  });
  const agent = await startCliAgent([`db=127.0.0.1:0,${upstream.address}`]);
  try {
    const port = agent.port("db");
    const clients = await Promise.all([dial(port), dial(port), dial(port)]);
    for (const c of clients) assert.ok((await roundTrip(c)) < 2000);
    await agent.ctl.apply("db", "partition");
    // frozen: the upstream got its FIN, the client hears nothing
    for (let waited = 0; upstreamEnds.length < 3 && waited < 5000; waited += 50) await sleep(50);
    assert.equal(upstreamEnds.length, 3, "each upstream got a FIN at the partition");
    let listed = await agent.ctl.connections("db");
    assert.equal(listed.length, 3);
    assert.ok(listed.every((c) => c.impaired), "impaired while partitioned");
    await agent.ctl.clear("db");
    listed = await agent.ctl.connections("db");
    assert.ok(listed.every((c) => !c.impaired), `a clean proxy lists clean connections: ${JSON.stringify(listed.map((c) => c.impaired))}`);
    // the clients close on the healed network
    const ends = clients.map((c) => endOf(c, 5000));
    for (const c of clients) c.end();
    assert.deepEqual(await Promise.all(ends), ["end", "end", "end"], "the agent closes its side once the client's FIN is heard");
    for (let waited = 0; (await agent.ctl.connections("db")).length > 0 && waited < 5000; waited += 100) await sleep(100);
    assert.equal((await agent.ctl.connections("db")).length, 0, "the connections left the list");
    assert.equal(await closeWait(port), 0, "no socket of the agent is left in CLOSE-WAIT");
  } finally {
    await agent.close();
    await upstream.close();
  }
});
