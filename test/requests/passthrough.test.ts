// With a protocol set and no rule, everything passes byte for byte: the first wave's redis,
// postgres, mysql, HTTP, WebSocket and gRPC protocol tests (drivers ioredis, pg, mysql2, fetch
// and http.Agent, ws, grpc-js; pipelines, big values, pub/sub, LISTEN/NOTIFY, upgrades,
// streaming, link faults) run again, each through a protocol proxy instead of a tcp one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const PROXY_PROTOCOL: Record<string, string> = { redis: "redis", postgres: "postgres", mysql: "mysql", http: "http", websocket: "http", grpc: "grpc" };

for (const [name, protocol] of Object.entries(PROXY_PROTOCOL)) {
  test(`the ${name} protocol tests pass through a ${protocol} protocol proxy`, { timeout: 300_000 }, async () => {
    const file = fileURLToPath(new URL(`../protocols/${name}.test.js`, import.meta.url));
    const env: NodeJS.ProcessEnv = { ...process.env, NETIMPAIR_RIG_PROTOCOL: "1" };
    delete env.NODE_TEST_CONTEXT; // a test file run on its own, not a subtest of this one
    const child = spawn(process.execPath, ["--test-reporter=spec", file], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    assert.equal(code, 0, out.split("\n").filter((l) => /✖|fail|Error/.test(l)).slice(0, 30).join("\n"));
    assert.match(out, /(ℹ|#) pass [1-9]/);
    assert.match(out, /(ℹ|#) fail 0/);
  });
}
