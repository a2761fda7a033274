// `netimpair agent` through the real binary: flags reach the agent, the CLI drives it, SIGTERM
// stops it with exit 0, bad flags exit 2.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { CLI_PATH, runCli } from "../support/cli.js";
import { dial, echoServer, roundTrip } from "../support/net.js";
import type { AgentInfo } from "../../src/control/protocol.js";
import { connect } from "../../src/control/client.js";
import { startCliAgent } from "../support/cli-agent.js";

test("netimpair agent serves its proxies and control until SIGTERM (exit 0)", async () => {
  const echo = await echoServer();
  const child = spawn(
    process.execPath,
    [CLI_PATH, "agent", "--control", "127.0.0.1:0", "--proxy", `pg=127.0.0.1:0,${echo.address}`, "--label", "env=ci", "--label", "team=net", "--log-level", "silent"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.on("error", () => {});
  let stderr = "";
  child.stdout.resume();
  child.stderr.setEncoding("utf8");
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no control URL within 10 s; stderr: ${stderr}`)), 10_000);
      child.stderr.on("data", (d: string) => {
        stderr += d;
        const m = /control (wss?:\/\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once("exit", (code) => reject(new Error(`agent exited ${code}: ${stderr}`)));
    });
    const ctl = await connect(url);
    assert.deepEqual((await ctl.info()).labels, { env: "ci", team: "net" });
    await ctl.close();
    const info = await runCli(["--json", "--agent", url, "proxy", "ls"]);
    assert.equal(info.code, 0, info.stderr);
    const proxies = JSON.parse(info.stdout) as AgentInfo["proxies"];
    assert.equal(proxies.length, 1);
    assert.equal(proxies[0]!.upstream, echo.address);
    const port = Number(proxies[0]!.listen.split(":").pop());
    const s = await dial(port);
    try {
      const applied = await runCli(["--agent", url, "apply", "clean", "--proxy", "pg", "--set", "up.delay=100ms"]);
      assert.equal(applied.code, 0, applied.stderr);
      const rt = await roundTrip(s);
      assert.ok(rt >= 95, `round trip ${rt} ms`);
    } finally {
      s.destroy();
    }
    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    child.kill("SIGTERM");
    const t0 = performance.now();
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(performance.now() - t0 < 5500, "stopped within 5 s");
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await echo.close();
  }
});

test("netimpair agent: bad flags and config exit 2 naming the flag and value", async () => {
  const cases: [string[], RegExp][] = [
    [["agent", "--proxy", "pg"], /--proxy .*"pg"/],
    [["agent", "--log-level", "loud"], /--log-level.*"loud"/],
    [["agent", "--config", "/no/such/agent.yaml"], /\/no\/such\/agent\.yaml/],
    [["agent", "--label", "env"], /--label "env"/],
    [["agent", "--proxy", "pg=127.0.0.1:0,127.0.0.1:1", "--proxy", "pg=127.0.0.1:0,127.0.0.1:2"], /--proxy "pg=127\.0\.0\.1:0,127\.0\.0\.1:2": duplicate proxy name "pg"/],
  ];
  for (const [args, mention] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, mention);
  }
});

test("the agent's ready line names each proxy's protocol where it is not plain tcp, and its TLS sides, as status does", async () => {
  const agent = await startCliAgent(["--proxy", "plain=127.0.0.1:0,127.0.0.1:6379", "--proxy", "cache=127.0.0.1:0,127.0.0.1:6379,redis", "--proxy", "secure=127.0.0.1:0,127.0.0.1:6379,redis", "--proxy-tls", "secure=client:auto"]);
  try {
    const line = agent.stderr().split("\n").find((l) => l.includes(" control ws://"));
    assert.ok(line, agent.stderr());
    assert.match(line, /plain 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:6379(,|$)/);
    assert.match(line, /cache 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:6379 \[redis\](,|$)/);
    assert.match(line, /secure 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:6379 \[redis\] tls\(client\)(,|$)/);
    assert.ok(agent.port("cache") > 0 && agent.port("plain") > 0 && agent.port("secure") > 0, "every port still read from the line");
  } finally {
    await agent.stop();
  }
});
