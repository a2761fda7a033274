// The agent as a process: prints its control URL, proxies relay, SIGTERM/SIGINT stop it with
// exit 0 within 5 s even with clients connected.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { RawRpc } from "../support/rpc.js";
import { echoServer, dial, readBytes } from "../support/net.js";

const MAIN = fileURLToPath(new URL("../support/agent-main.js", import.meta.url));

async function spawnAgent(flags: object): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [MAIN, JSON.stringify(flags)], { stdio: ["ignore", "pipe", "pipe"] });
  child.on("error", () => {});
  let stderr = "";
  child.stdout!.resume();
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no control URL within 10 s; stderr: ${stderr}`)), 10_000);
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      const m = /control (ws:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on("exit", (code) => reject(new Error(`agent exited ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} stops a busy agent with exit 0 within 5 s`, async () => {
    const echo = await echoServer();
    const { child, url } = await spawnAgent({ control: "127.0.0.1:0", proxy: [`pg=127.0.0.1:0,${echo.address}`], logLevel: "silent" });
    try {
      const ctl = await RawRpc.open(url);
      const [pg] = await ctl.ok<{ listen: string }[]>("proxy.list");
      const s = await dial(Number(pg!.listen.split(":")[1]));
      const got = readBytes(s, 4);
      s.write("ping");
      assert.equal(String(await got), "ping");
      await ctl.ok("impair.apply", { proxy: "pg", profile: "3g" });
      const t0 = performance.now();
      child.kill(signal);
      const [code] = (await once(child, "exit")) as [number | null];
      const took = performance.now() - t0;
      assert.equal(code, 0);
      assert.ok(took < 5000, `stopped in ${took.toFixed(0)} ms`);
      s.destroy();
      await ctl.closed;
    } finally {
      child.kill("SIGKILL");
      await echo.close();
    }
  });
}

test("a bad config makes the process fail with the reason", async () => {
  const child = spawn(process.execPath, [MAIN, JSON.stringify({ control: "0.0.0.0:0", logLevel: "silent" })], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const [code] = (await once(child, "exit")) as [number | null];
  assert.equal(code, 1);
  assert.match(stderr, /non-loopback/);
});
