// `netimpair watch --requests`: live retry amplification per proxy, from every request of the
// agent's protocol proxies, while a client retries failed requests at once against a real HTTP
// service through a CLI-started agent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../support/cli.js";
import { startService, verdictLab } from "../support/verdict-lab.js";
import { connect } from "../../src/index.js";

test("watch --requests shows each proxy's requests, retries and amplification since the last refresh", async () => {
  const service = await startService();
  const lab = await verdictLab([`api=127.0.0.1:0,127.0.0.1:${service.port},http`]);
  const ctl = await connect(lab.agent.url, { bindToSession: false });
  let stop = false;
  try {
    await ctl.apply("api", undefined, { spec: { requests: [{ match: { path: "/pay/*" }, fail: { status: 503 } }] } });
    // a careless client: each request tried 4 times at once, a new one every 50 ms
    const loop = (async () => {
      for (let n = 0; !stop; n++) {
        for (let k = 0; k < 4; k++) {
          const res = await fetch(`${lab.base("api")}/pay/${n}`, { method: "POST", body: `{"n":${n}}` }).catch(() => null);
          await res?.arrayBuffer();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const res = await runCli(["watch", "--requests", "--count", "3", "--interval", "1s", "--agent", lab.agent.url], { timeoutMs: 30_000 });
    stop = true;
    await loop;
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.split("\n").filter((l) => / api: \d+ requests/.test(l));
    assert.ok(lines.length >= 2, res.stdout);
    // after the first refresh the interval is whole: 3 of every 4 attempts are retries (4.0x; the edges of a window cut a few)
    const amp = lines.slice(1).map((l) => Number(/amplification ([\d.]+)x/.exec(l)?.[1]));
    assert.ok(amp.every((a) => a >= 2.5 && a <= 6), res.stdout);
    // what the service holds: nothing (the agent failed every attempt)
    assert.equal(service.hits.filter((h) => h.path.startsWith("/pay/")).length, 0);
  } finally {
    stop = true;
    await ctl.close();
    await lab.close();
    await service.close();
  }
});
