// A panic (or clear) during `netimpair run` cancels the run at the agent (docs/reliability.md
// "Where features meet"): the runner hears of it at once, cancels the remaining steps, stops the
// command and exits 1, and no ramp re-apply puts the impairment back afterwards.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../../src/index.js";
import { spawnAgent, type AgentProcess } from "../support/agent-process.js";
import { CLI_PATH, runCli } from "../support/cli.js";
import { echoServer, sleep } from "../support/net.js";

const dir = await mkdtemp(join(tmpdir(), "netimpair-panic-run-"));
after(() => rm(dir, { recursive: true, force: true }));

async function rampScenario(every: string, proxies: string[] = ["pg"]): Promise<string> {
  const p = join(dir, `ramp-${every}-${proxies.length}.yaml`);
  await writeFile(p, `name: ramp-under-panic\nproxies: [${proxies.join(", ")}]\nsteps:\n  - {at: 0s, ramp: {from: 4g, to: 2g, over: 30s, every: ${every}}}\n`);
  return p;
}

interface RunChild {
  exited: Promise<{ code: number | null; at: number; stderr: string }>;
  kill(): void;
}

function startRun(agent: AgentProcess, args: string[]): RunChild {
  const env = { ...process.env };
  delete env.NETIMPAIR_AGENT;
  delete env.NETIMPAIR_TOKEN;
  const child = spawn(process.execPath, [CLI_PATH, "run", "--agent", agent.url, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.on("error", () => {});
  return {
    exited: once(child, "exit").then(([code]) => ({ code: code as number | null, at: performance.now(), stderr })),
    kill: () => child.kill("SIGKILL"),
  };
}

async function rampIsOn(agent: AgentProcess): Promise<void> {
  const ctl = await connect(agent.url, { bindToSession: false });
  try {
    for (let i = 0; i < 100; i++) {
      if ((await ctl.info()).proxies.every((p) => p.impairment?.profile.startsWith("ramp-"))) return;
      await sleep(50);
    }
    throw new Error("the ramp never showed on the proxies");
  } finally {
    await ctl.close();
  }
}

/** Watches the proxies for `ms`: returns every impairment profile seen (null = clean). */
async function watch(agent: AgentProcess, ms: number): Promise<Set<string | null>> {
  const ctl = await connect(agent.url, { bindToSession: false });
  const seen = new Set<string | null>();
  try {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      for (const p of (await ctl.info()).proxies) seen.add(p.impairment?.profile ?? null);
      await sleep(25);
    }
  } finally {
    await ctl.close();
  }
  return seen;
}

for (const every of ["1s", "100ms"]) {
  test(`a panic during a ramp (every ${every}) ends the run with exit 1 within a second and nothing re-applies`, { timeout: 60_000 }, async () => {
    const echo = await echoServer();
    const agent = await spawnAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
    const run = startRun(agent, [await rampScenario(every), "--", "sleep", "20"]);
    try {
      await rampIsOn(agent);
      await sleep(1000);
      const panic = await runCli(["panic", "--agent", agent.url]);
      assert.equal(panic.code, 0, panic.stderr);
      const panicked = performance.now();
      const watching = watch(agent, 2500);
      const exit = await Promise.race([run.exited, sleep(5000).then(() => null)]);
      assert.ok(exit, "the run ended after the panic");
      const afterMs = exit.at - panicked;
      console.log(`ramp every ${every}: the run exited ${exit.code} ${afterMs.toFixed(0)} ms after the panic`);
      assert.equal(exit.code, 1, exit.stderr);
      assert.ok(afterMs < 1500, `the run ended within a second of the panic (took ${afterMs.toFixed(0)} ms; its command stopped too)`);
      assert.match(exit.stderr, /panic/i);
      const seen = await watching;
      assert.deepEqual([...seen], [null], `no ramp re-apply after the panic (seen: ${[...seen].join(", ")})`);
    } finally {
      run.kill();
      await agent.stop();
      await echo.close();
    }
  });
}

test("a clear from another controller during a run cancels it too (exit 1), and the run's later steps are refused at the agent", { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  const agent = await spawnAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  const run = startRun(agent, [await rampScenario("100ms"), "--", "sleep", "20"]);
  try {
    await rampIsOn(agent);
    const cleared = await runCli(["clear", "--proxy", "pg", "--agent", agent.url]);
    assert.equal(cleared.code, 0, cleared.stderr);
    const t = performance.now();
    const exit = await Promise.race([run.exited, sleep(5000).then(() => null)]);
    assert.ok(exit, "the run ended after the clear");
    assert.equal(exit.code, 1, exit.stderr);
    assert.ok(exit.at - t < 1500, `within a second (took ${(exit.at - t).toFixed(0)} ms)`);
    assert.match(exit.stderr, /cleared from outside the run \(netimpair panic or clear\), clear by /);
    assert.deepEqual([...(await watch(agent, 500))], [null]);
  } finally {
    run.kill();
    await agent.stop();
    await echo.close();
  }
});

test("a panic during a run names the proxies the run impaired, not every proxy of the agent", { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  const agent = await spawnAgent({
    proxies: [
      { name: "pg", listen: "127.0.0.1:0", upstream: echo.address },
      { name: "bystander", listen: "127.0.0.1:0", upstream: echo.address },
    ],
  });
  const run = startRun(agent, [await rampScenario("1s"), "--", "sleep", "20"]);
  try {
    const ctl = await connect(agent.url, { bindToSession: false });
    try {
      for (let i = 0; i < 100 && (await ctl.proxies()).find((p) => p.name === "pg")?.impairment === null; i++) await sleep(50);
      await ctl.apply("bystander", "3g"); // impaired by someone else: the panic clears it too
    } finally {
      await ctl.close();
    }
    const panicked = await runCli(["panic", "--agent", agent.url]);
    assert.equal(panicked.code, 0, panicked.stderr);
    const exit = await Promise.race([run.exited, sleep(5000).then(() => null)]);
    assert.ok(exit, "the run ended after the panic");
    assert.equal(exit.code, 1, exit.stderr);
    assert.match(exit.stderr, /pg on agent .* was cleared from outside the run \(netimpair panic or clear\), panic by /);
    assert.doesNotMatch(exit.stderr, /bystander/);
  } finally {
    run.kill();
    await agent.stop();
    await echo.close();
  }
});
