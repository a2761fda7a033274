// Request rules on a tcp proxy are refused naming the field once, as docs/request-faults.md
// shows it (`requests: proxy pg carries tcp; ...`), on the agent the CLI starts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

let agent: CliAgent;
let server: net.Server;

before(async () => {
  server = net.createServer((s) => s.end());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  agent = await startCliAgent([`plain=127.0.0.1:0,127.0.0.1:${port}`]);
});

after(async () => {
  await agent?.close();
  server?.close();
});

test("a rule for a tcp proxy: params.requests, with the reason once and the way out", async () => {
  await assert.rejects(agent.ctl.apply("plain", undefined, { spec: { requests: [{ match: {}, fail: { status: 503 } }] } }), (err: Error) => {
    const text = JSON.stringify(err) + err.message;
    assert.match(text, /params\.requests: proxy plain carries tcp; request rules need a protocol \(set protocol: postgres, mysql, redis, http, grpc or dns\)/);
    assert.doesNotMatch(text, /requests: requests:/);
    return true;
  });
});
