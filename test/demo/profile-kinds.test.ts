// `npm run demo` applies every built-in profile its plain TCP proxy can take: a profile added
// for another kind of proxy (lossy-udp's duplicate) once stopped the whole demo at its apply.
// Here every built-in profile is applied to a tcp proxy: the demo's classification must say
// "link" exactly for those the agent takes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startAgent } from "../../src/agent/start.js";
import { connect } from "../../src/control/client.js";
import { demoKind } from "../../src/demo/profile-kind.js";

test("the demo measures exactly the built-in profiles a tcp proxy takes, and lists the rest by kind", async () => {
  const running = await startAgent({ control: "127.0.0.1:0", proxies: [{ name: "demo", listen: "127.0.0.1:0", upstream: "127.0.0.1:9" }] });
  const ctl = await connect(running.url);
  try {
    const names = await ctl.profiles();
    assert.ok(names.includes("lossy-udp") && names.includes("3g") && names.includes("redis-oom"), names.join(", "));
    const wrong: string[] = [];
    for (const name of names) {
      const kind = demoKind((await ctl.profile(name)).spec);
      const applied = await ctl.apply("demo", name).then(() => "taken", (e: Error) => `refused: ${e.message}`);
      if ((kind === "link") !== (applied === "taken")) wrong.push(`${name}: demo kind ${kind}, tcp proxy ${applied}`);
    }
    assert.deepEqual(wrong, []);
  } finally {
    await ctl.close();
    await running.close();
  }
});
