// `netimpair run` end to end: the real binary against a real agent and real commands.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, startAgent, type ControlClient, type RunningAgent } from "../../src/index.js";
import type { RunReport } from "../../src/report/report.js";
import { closedPort } from "../support/cli.js";
import { startRun, type RunningRunner } from "./run-lab.js";
import { dial, echoServer, readBytes, roundTrip, sleep, type Peer } from "../support/net.js";

const dir = await mkdtemp(join(tmpdir(), "netimpair-run-"));
after(() => rm(dir, { recursive: true, force: true }));

interface Lab {
  agent: RunningAgent;
  echo: Peer;
  port: number;
  ctl: ControlClient;
  close(): Promise<void>;
}

/** An agent with proxy "pg" in front of an echo server, and extra profiles from `profiles`. */
async function lab(profiles: Record<string, string> = {}): Promise<Lab> {
  const profileDir = await mkdtemp(join(dir, "profiles-"));
  for (const [name, text] of Object.entries(profiles)) await writeFile(join(profileDir, `${name}.yaml`), text);
  const echo = await echoServer();
  const agent = await startAgent({ control: "127.0.0.1:0", profiles: profileDir, proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  const listen = agent.agent.listProxies()[0]!.listen;
  const ctl = await connect(agent.url, { bindToSession: false });
  return {
    agent,
    echo,
    port: Number(listen.slice(listen.lastIndexOf(":") + 1)),
    ctl,
    close: async () => {
      await ctl.close();
      await agent.close();
      await echo.close();
    },
  };
}

let fileNo = 0;
async function file(text: string, ext = "yaml"): Promise<string> {
  const p = join(dir, `f${++fileNo}.${ext}`);
  await writeFile(p, text);
  return p;
}

/** `netimpair run ARGS` in its own process (NETIMPAIR_AGENT and NETIMPAIR_TOKEN unset) */
function run(args: string[], timeoutMs = 30_000): RunningRunner {
  return startRun(args, {}, timeoutMs);
}

async function impairmentOf(ctl: ControlClient, proxy = "pg"): Promise<string | null> {
  const p = (await ctl.proxies()).find((x) => x.name === proxy)!;
  return p.impairment?.profile ?? null;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test("steps start on time, the proxy ends as it was before the run, and the reports hold the measured bytes", async () => {
  const l = await lab({ slowish: "down: {delay: 30ms}\n" });
  try {
    await l.ctl.apply("pg", "4g", { bindToSession: false }); // the state before the run
    const scenario = await file(
      [
        "name: timing",
        "proxies: [pg]",
        "steps:",
        "  - {at: 0s, apply: slowish}",
        "  - {at: 400ms, apply: 3g, for: 300ms}",
        "  - {at: 700ms, clear: true}",
        "  - {at: 1100ms, apply: {up: {delay: 5ms}, name: inline}}",
        "  - {at: 1500ms, apply: lte, for: 300ms}",
      ].join("\n"),
    );
    // watch what the agent has, every 10 ms, from another session
    const watcher = await connect(l.agent.url, { bindToSession: false });
    const seen: { at: number; profile: string | null }[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const profile = await impairmentOf(watcher);
        if (seen.at(-1)?.profile !== profile) seen.push({ at: Date.now(), profile });
        await sleep(10);
      }
    })();
    // traffic through the proxy while the scenario plays
    const sock = await dial(l.port);
    let sent = 0;
    let received = 0;
    sock.on("data", (d: Buffer) => (received += d.length));
    const pump = setInterval(() => {
      sock.write(Buffer.alloc(1000, 1));
      sent += 1000;
    }, 20);
    const reportFile = join(dir, "timing.json");
    const junitFile = join(dir, "timing.xml");
    const r = run([scenario, "--agent", l.agent.url, "--report", reportFile, "--junit", junitFile]);
    const res = await r.done;
    clearInterval(pump);
    await sleep(300);
    watching = false;
    await watch;
    assert.equal(res.code, 0, res.stderr);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    const start = Date.parse(report.startedAt);
    // what the agent had, when (the runner's own claim is checked too)
    const expected: [number, string | null][] = [[0, "slowish"], [400, "3g"], [700, null], [1100, "inline"], [1500, "lte"]];
    for (const [offset, profile] of expected) {
      const change = seen.find((c) => c.profile === profile && c.at >= start + offset - 20);
      assert.ok(change, `the agent never showed ${profile} after ${offset} ms: ${JSON.stringify(seen.map((c) => [c.at - start, c.profile]))}`);
      const late = change.at - (start + offset);
      assert.ok(late < 100, `${profile} at ${offset} ms came ${late} ms late`);
    }
    for (const s of report.steps) assert.ok(s.lateMs !== null && s.lateMs >= 0 && s.lateMs < 100, `step ${s.index + 1} late ${s.lateMs} ms`);
    // back to what it was before the run (the session ended)
    await waitFor("the pre-run 4g", async () => (await impairmentOf(watcher)) === "4g");
    assert.equal(seen.at(-1)!.profile, "4g");
    // bytes: the steps' spans tile the run here, so their bytes add up to the run's (but for the few
    // ms between the run's first sample and step 1, and between the last step's end and the final sample)
    assert.deepEqual(report.steps.map((s) => [s.at, s.at + s.durationMs > 0]), [[0, true], [400, true], [700, true], [1100, true], [1500, true]]);
    const stepUp = report.steps.reduce((n, s) => n + (s.perProxy.pg?.bytesUp ?? 0), 0);
    assert.ok(stepUp <= report.totals.pg!.bytesUp && report.totals.pg!.bytesUp - stepUp <= 5000, `steps ${stepUp} vs run ${report.totals.pg!.bytesUp}`);
    assert.ok(report.totals.pg!.bytesUp > 50_000 && report.totals.pg!.bytesUp <= sent, `${report.totals.pg!.bytesUp} of ${sent}`);
    assert.ok(report.totals.pg!.bytesDown > 40_000 && report.totals.pg!.bytesDown <= received);
    const s1 = report.steps[0]!.perProxy.pg!;
    const rate = s1.bytesUp / (report.steps[0]!.durationMs / 1000);
    assert.ok(Math.abs(s1.throughputUp - rate) <= rate * 0.01 + 1, `throughput ${s1.throughputUp} vs ${rate} B/s`);
    assert.equal(report.exitCode, 0);
    assert.equal(report.steps.length, 5);
    assert.deepEqual(report.steps.map((s) => s.status), ["done", "done", "done", "done", "done"]);
    // JUnit: one case per step, none failed
    const xml = await readFile(junitFile, "utf8");
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="netimpair" tests="5" failures="0" errors="0" skipped="0"/);
    assert.equal(xml.match(/<testcase /g)?.length, 5);
    assert.equal(xml.match(/<testsuite /g)?.length, 1);
    // the Markdown summary on stdout
    assert.match(res.stdout, /^## netimpair run: timing/m);
    assert.match(res.stdout, /\| 2 \| 400ms \| apply 3g \| pg \|/);
    sock.destroy();
    await watcher.close();
  } finally {
    await l.close();
  }
});

test("a ramp is measured on the link: the round trip grows with the ramp and ends at the target", async () => {
  const l = await lab({ far: "rtt: 400ms\n" });
  try {
    const scenario = await file("proxies: [pg]\nsteps:\n  - {at: 0s, ramp: {from: clean, to: far, over: 2s, every: 250ms}, for: 4s}\n");
    const r = run([scenario, "--agent", l.agent.url]);
    await waitFor("the ramp", async () => (await impairmentOf(l.ctl)) !== null);
    const t0 = performance.now();
    const sock = await dial(l.port);
    const samples: { t: number; rtt: number }[] = [];
    while (performance.now() - t0 < 2700) {
      const t = performance.now() - t0;
      samples.push({ t, rtt: await roundTrip(sock, 32) });
    }
    sock.destroy();
    const res = await r.done;
    assert.equal(res.code, 0, res.stderr);
    const mean = (from: number, to: number): number => {
      const xs = samples.filter((s) => s.t >= from && s.t < to).map((s) => s.rtt);
      assert.ok(xs.length > 0, `no samples in ${from}-${to} ms`);
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    const early = mean(0, 400);
    const middle = mean(900, 1300);
    const late = mean(2000, 2700); // the ramp (which began about 250 ms before t0) is done by then
    // rtt at fraction f is 400 f ms: about 0-100 early, about 200 in the middle, 400 at the end
    assert.ok(early < 160, `early ${early.toFixed(0)} ms`);
    assert.ok(middle > 120 && middle < 330, `middle ${middle.toFixed(0)} ms`);
    assert.ok(late >= 395 && late < 600, `late ${late.toFixed(0)} ms`);
    assert.ok(early < middle && middle < late);
    await waitFor("the end of the ramp's for", async () => (await impairmentOf(l.ctl)) === null);
  } finally {
    await l.close();
  }
});

test("the command's exit code is the run's; the step it failed in fails in JUnit; a missing command is 127", async () => {
  const l = await lab();
  try {
    const scenario = await file("name: exits\nproxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n  - {at: 200ms, apply: 2g}\n  - {at: 10s, clear: true}\n");
    const script = await file("setTimeout(() => process.exit(7), 400);\n", "mjs");
    const junitFile = join(dir, "exits.xml");
    const reportFile = join(dir, "exits.json");
    const res = await run([scenario, "--agent", l.agent.url, "--junit", junitFile, "--report", reportFile, "--", process.execPath, script]).done;
    assert.equal(res.code, 7, res.stderr);
    assert.ok(res.ms < 8000, `took ${res.ms} ms: the run ends when the command exits`);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    assert.equal(report.commandExit!.code, 7);
    assert.ok(report.commandExit!.atMs >= 400);
    // step 2 lasts until step 3, which the run never reached: the command's exit cut it short
    assert.deepEqual(report.steps.map((s) => s.status), ["done", "cut-short", "not-reached"]);
    const xml = await readFile(junitFile, "utf8");
    assert.match(xml, /tests="3" failures="1" errors="0" skipped="1"/);
    const cases = xml.split("<testcase ").slice(1);
    assert.doesNotMatch(cases[0]!, /<failure/);
    assert.match(cases[1]!, /<failure message="[^"]*exited with 7 during this step" type="CommandFailed"\/>/);
    assert.match(cases[2]!, /<skipped/);
    assert.match(res.stdout, /exited with \*\*7\*\*/);
    await waitFor("the revert", async () => (await impairmentOf(l.ctl)) === null);
    const ok = await run([scenario, "--agent", l.agent.url, "--", process.execPath, "-e", "process.exit(0)"]).done;
    assert.equal(ok.code, 0, ok.stderr);
    const missing = await run([scenario, "--agent", l.agent.url, "--", join(dir, "no-such-command")]).done;
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /cannot start .*no-such-command.*command not found/);
  } finally {
    await l.close();
  }
});

test("Ctrl-C (SIGINT) stops the command, reverts, and exits 130", async () => {
  const l = await lab();
  try {
    const scenario = await file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n  - {at: 20s, apply: 2g}\n");
    const pidFile = join(dir, "child.pid");
    const script = await file(`import { writeFileSync } from "node:fs";\nwriteFileSync(${JSON.stringify(pidFile)}, String(process.pid));\nsetTimeout(() => {}, 60000);\n`, "mjs");
    const r = run([scenario, "--agent", l.agent.url, "--", process.execPath, script]);
    await waitFor("the command", async () => existsSync(pidFile) && (await impairmentOf(l.ctl)) === "3g");
    const childPid = Number(await readFile(pidFile, "utf8"));
    r.child.kill("SIGINT");
    const res = await r.done;
    assert.equal(res.code, 130, res.stderr);
    assert.ok(res.ms < 15_000);
    assert.match(res.stderr, /interrupted by SIGINT/);
    await waitFor("the revert", async () => (await impairmentOf(l.ctl)) === null, 2000);
    assert.throws(() => process.kill(childPid, 0), /ESRCH/, "the command was stopped");
  } finally {
    await l.close();
  }
});

test("a runner killed with SIGKILL leaves nothing behind: its session ends and the agent reverts", async () => {
  const l = await lab();
  try {
    await l.ctl.apply("pg", "lte", { bindToSession: false });
    const scenario = await file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g, for: 60s}\n");
    const r = run([scenario, "--agent", l.agent.url]);
    await waitFor("the step", async () => (await impairmentOf(l.ctl)) === "3g");
    r.child.kill("SIGKILL");
    await r.done;
    const t = performance.now();
    await waitFor("the revert", async () => (await impairmentOf(l.ctl)) === "lte", 5000);
    assert.ok(performance.now() - t < 5000);
  } finally {
    await l.close();
  }
});

test("--baseline runs the command clean first and compares; both runs count the command's bytes", async () => {
  const l = await lab();
  try {
    await l.ctl.apply("pg", "2g", { bindToSession: false });
    const scenario = await file("name: compare\nproxies: [pg]\nsteps:\n  - {at: 0s, apply: {down: {delay: 150ms}, up: {delay: 150ms}}}\n");
    const script = await file(
      [
        `import net from "node:net";`,
        `const s = net.connect(${l.port}, "127.0.0.1");`,
        `s.on("error", (e) => { console.error(e.message); process.exit(3); });`,
        `let got = 0;`,
        `s.on("data", (d) => { got += d.length; if (got >= 100000) s.end(); });`,
        `s.on("close", () => process.exit(got === 100000 ? 0 : 4));`,
        `s.write(Buffer.alloc(100000, 9));`,
      ].join("\n"),
      "mjs",
    );
    const reportFile = join(dir, "compare.json");
    const summaryFile = join(dir, "summary.md");
    const res = await run([scenario, "--agent", l.agent.url, "--baseline", "--report", reportFile, "--summary", summaryFile, "--", process.execPath, script]).done;
    assert.equal(res.code, 0, res.stderr);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    assert.equal(report.baseline!.exitCode, 0);
    assert.equal(report.baseline!.perProxy.pg!.bytesUp, 100_000);
    assert.equal(report.baseline!.perProxy.pg!.bytesDown, 100_000);
    assert.equal(report.totals.pg!.bytesUp, 100_000);
    assert.equal(report.totals.pg!.bytesDown, 100_000);
    assert.equal(report.totals.pg!.connections, 1);
    // the clean run had no 2g on it; the impaired one paid 300 ms of round trip at least
    assert.ok(report.durationMs >= 300, `impaired ${report.durationMs} ms`);
    assert.ok(report.baseline!.durationMs < report.durationMs, `clean ${report.baseline!.durationMs} vs impaired ${report.durationMs}`);
    const summary = await readFile(summaryFile, "utf8");
    assert.match(summary, /### Clean vs impaired/);
    assert.match(summary, /\| duration \| [^|]+ \| [^|]+ \| \+\d+% \|/);
    assert.match(res.stdout, /### Clean vs impaired/);
    await waitFor("the pre-run 2g", async () => (await impairmentOf(l.ctl)) === "2g");
  } finally {
    await l.close();
  }
});

test("an unreachable agent means the command never runs (exit 1); a panic cancels the remaining steps", async () => {
  const l = await lab();
  try {
    const marker = join(dir, "ran.txt");
    const scenario = await file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n  - {at: 4s, apply: 2g}\n");
    const down = await run([scenario, "--agent", `ws://127.0.0.1:${await closedPort()}/control`, "--", process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, "x")`]).done;
    assert.equal(down.code, 1);
    assert.match(down.stderr, /unreachable: connection refused/);
    assert.equal(existsSync(marker), false);
    const typo = await run([(await file("proxies: [pgg]\nsteps:\n  - {at: 0s, apply: 3g}\n")), "--agent", l.agent.url]).done;
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /step 1: proxy "pgg" is on no agent \(they have: pg\)/);
    const bad = await run([(await file("proxies: [pg]\nsteps:\n  - {at: soon, apply: 3g}\n")), "--agent", l.agent.url]).done;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /:3: step 1, at: .*"soon"/);

    const r = run([scenario, "--agent", l.agent.url, "--", process.execPath, "-e", "setTimeout(() => {}, 30000)"]);
    await waitFor("the first step", async () => (await impairmentOf(l.ctl)) === "3g");
    const panic = await l.ctl.panic();
    assert.deepEqual(panic.cleared, ["pg"]);
    const res = await r.done;
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /pg on agent .* was cleared from outside the run \(netimpair panic or clear\)/);
    assert.ok(res.ms < 10_000);
    assert.equal(await impairmentOf(l.ctl), null, "the cancelled step 2 never applied");
  } finally {
    await l.close();
  }
});

test("several agents in one scenario: each proxy is set on every agent that has it, and reverted on each", async () => {
  const a = await lab();
  const echo = await echoServer();
  const b = await startAgent({ control: "127.0.0.1:0", proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }, { name: "api", listen: "127.0.0.1:0", upstream: echo.address }] });
  const bctl = await connect(b.url, { bindToSession: false });
  try {
    const scenario = await file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n  - {at: 300ms, apply: 2g, proxies: [api], for: 300ms}\n  - {at: 900ms, clear: true, proxies: ['*']}\n");
    const reportFile = join(dir, "fleet.json");
    const r = run([scenario, "--agent", a.agent.url, "--agent", b.url, "--report", reportFile]);
    await waitFor("3g on both agents", async () => (await impairmentOf(a.ctl)) === "3g" && (await impairmentOf(bctl)) === "3g");
    await waitFor("2g on api", async () => (await impairmentOf(bctl, "api")) === "2g");
    const res = await r.done;
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await impairmentOf(a.ctl), null);
    assert.equal(await impairmentOf(bctl), null);
    assert.equal(await impairmentOf(bctl, "api"), null);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    assert.deepEqual(report.agents.map((x) => x.url), [a.agent.url, b.url]);
    assert.deepEqual(report.steps[2]!.proxies, ["api", "pg"]);
    assert.deepEqual(Object.keys(report.totals).sort(), ["api", "pg"]);
  } finally {
    await bctl.close();
    await b.close();
    await echo.close();
    await a.close();
  }
});
