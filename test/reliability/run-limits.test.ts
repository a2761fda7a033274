// `netimpair run` against its own limits (docs/reliability.md "Where features meet"): a valid
// ramp every 100 ms on 30 proxies stays under the agent's per-connection rate limit, and a runner
// killed by SIGKILL takes its command (and the command's children) with it.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../../src/index.js";
import { spawnAgent } from "../support/agent-process.js";
import { CLI_PATH, runCli } from "../support/cli.js";
import { echoServer, sleep } from "../support/net.js";
import type { RunReport } from "../../src/report/report.js";

const dir = await mkdtemp(join(tmpdir(), "netimpair-run-limits-"));
after(() => rm(dir, { recursive: true, force: true }));

/** True while the process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

test("a ramp every 100 ms on 30 proxies plays to its end under the agent's default rate limit", { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  const names = Array.from({ length: 30 }, (_, i) => `p${i}`);
  const agent = await spawnAgent({ proxies: names.map((name) => ({ name, listen: "127.0.0.1:0", upstream: echo.address })) });
  try {
    const scenario = join(dir, "ramp30.yaml");
    await writeFile(scenario, `name: ramp30\nproxies: ["*"]\nsteps:\n  - {at: 0s, ramp: {from: 4g, to: 2g, over: 8s, every: 100ms}}\n`);
    const report = join(dir, "ramp30.json");
    const r = await runCli(["run", scenario, "--agent", agent.url, "--report", report], { timeoutMs: 40_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Rate limited/);
    const rep = JSON.parse(await readFile(report, "utf8")) as RunReport;
    console.log(`ramp every 100ms on 30 proxies: exit ${rep.exitCode} after ${rep.durationMs} ms`);
    assert.equal(rep.steps[0]!.status, "done");
    assert.ok(rep.durationMs < 10_500, `the ramp kept to its timeline (${rep.durationMs} ms for 8 s)`);
    const ctl = await connect(agent.url, { bindToSession: false });
    assert.ok((await ctl.info()).proxies.every((p) => p.impairment === null), "every proxy back to clean after the run");
    await ctl.close();
  } finally {
    await agent.stop();
    await echo.close();
  }
});

test("netimpair run killed with SIGKILL takes its command and the command's children with it", { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  const agent = await spawnAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  try {
    const scenario = join(dir, "hold.yaml");
    await writeFile(scenario, `name: hold\nproxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n`);
    const pids = join(dir, "pids.json");
    // the command starts a grandchild, then writes both pids
    const script = `const {spawn}=require("child_process");const g=spawn("sleep",["60"],{stdio:"ignore"});require("fs").writeFileSync(${JSON.stringify(pids)},JSON.stringify([process.pid,g.pid]));setInterval(()=>{},1000);`;
    const env = { ...process.env };
    delete env.NETIMPAIR_AGENT;
    const runner = spawn(process.execPath, [CLI_PATH, "run", scenario, "--agent", agent.url, "--", process.execPath, "-e", script], { env, stdio: ["ignore", "ignore", "pipe"] });
    runner.on("error", () => {});
    let list: number[] = [];
    for (let i = 0; i < 100 && list.length === 0; i++) {
      await sleep(100);
      list = await readFile(pids, "utf8").then((t) => JSON.parse(t) as number[]).catch(() => []);
    }
    assert.equal(list.length, 2, "the command started its child");
    assert.ok(list.every(alive));
    runner.kill("SIGKILL");
    await once(runner, "exit");
    const t = performance.now();
    for (let i = 0; i < 60 && list.some(alive); i++) await sleep(100);
    console.log(`after SIGKILL of the runner: command and grandchild gone in ${(performance.now() - t).toFixed(0)} ms`);
    assert.ok(!alive(list[0]!), "the command is gone");
    assert.ok(!alive(list[1]!), "the command's child is gone");
    const ctl = await connect(agent.url, { bindToSession: false });
    for (let i = 0; i < 50 && (await ctl.info()).proxies[0]!.impairment !== null; i++) await sleep(50);
    assert.equal((await ctl.info()).proxies[0]!.impairment, null, "and the run's impairment reverted");
    await ctl.close();
    for (const pid of list) if (alive(pid)) process.kill(pid, "SIGKILL");
  } finally {
    await agent.stop();
    await echo.close();
  }
});
