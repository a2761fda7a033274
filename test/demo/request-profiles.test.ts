// `npm run demo` (the README's first command) applies the built-in profiles to a plain TCP
// proxy: the request-fault profiles, which need a proxy that says its protocol, are listed and
// skipped, where the demo used to stop at the first one with "request rules need a protocol".
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const DEMO = fileURLToPath(new URL("../../src/demo/main.js", import.meta.url));

test("the demo measures a link profile and lists a request-fault profile instead of failing on it", async () => {
  const child = spawn(process.execPath, [DEMO, "clean", "pg-serialization-failures", "redis-oom"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const [code] = (await once(child, "close")) as [number | null];
  clearTimeout(killer);
  assert.equal(code, 0, `stdout: ${out}\nstderr: ${err}`);
  assert.match(out, /^clean\s+unlimited\s+\S+bps/m);
  assert.match(out, /Request-fault profiles, not measured here .*: pg-serialization-failures, redis-oom$/m);
  assert.doesNotMatch(out + err, /request rules need a protocol/);
});
