// Experiments end to end: the real `netimpair run` against a CLI-started agent whose proxy "api"
// fronts a real HTTP service, probed through the proxy. The service logs when each request reached
// it, which is the clock the measured recovery is checked against.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunReport } from "../../src/report/report.js";
import { CLI_PATH, closedPort } from "../support/cli.js";
import { sleep } from "../support/net.js";
import { startCliAgent, startHttpService, startWebhookReceiver, type CliAgent, type HttpService } from "../support/experiment-lab.js";

const dir = await mkdtemp(join(tmpdir(), "netimpair-experiment-"));
after(() => rm(dir, { recursive: true, force: true }));

let fileNo = 0;
async function file(text: string, ext = "yaml"): Promise<string> {
  const p = join(dir, `f${++fileNo}.${ext}`);
  await writeFile(p, text);
  return p;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

async function run(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  const started = performance.now();
  const env = { ...process.env };
  delete env.NETIMPAIR_AGENT;
  delete env.NETIMPAIR_TOKEN;
  const child = spawn(process.execPath, [CLI_PATH, "run", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.on("error", () => {});
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code] = (await once(child, "close")) as [number | null];
  clearTimeout(killer);
  return { code, stdout, stderr, ms: performance.now() - started };
}

interface Lab {
  service: HttpService;
  agent: CliAgent;
  health: string;
  close(): Promise<void>;
}

async function lab(): Promise<Lab> {
  const service = await startHttpService();
  const agent = await startCliAgent(`127.0.0.1:${service.port}`);
  return {
    service,
    agent,
    health: `http://127.0.0.1:${agent.apiPort}/health`,
    close: async () => {
      await agent.close();
      await service.close();
    },
  };
}

/** Watches the agent's impairment on "api" from the test's own session, every 10 ms. */
function watchImpairment(agent: CliAgent): { seen: { at: number; profile: string | null }[]; stop(): Promise<void> } {
  const seen: { at: number; profile: string | null }[] = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      const profile = await agent.impairment();
      if (seen.at(-1)?.profile !== profile) seen.push({ at: Date.now(), profile });
      await sleep(10);
    }
  })();
  return {
    seen,
    stop: async () => {
      on = false;
      await loop;
    },
  };
}

test("a partition breaks the slo: exit 1, the step fails in the report and JUnit, recovery is measured, the webhook hears it", async () => {
  const l = await lab();
  const hook = await startWebhookReceiver();
  try {
    const scenario = await file(
      [
        "name: api-survives-partition",
        "proxies: [api]",
        "probes:",
        `  - {name: api, http: {url: "${l.health}", status: 200, body: ok}, every: 100ms, timeout: 300ms}`,
        "slo: {api: {availability: 99%, recovery: 2s}}",
        `notify: {webhook: "${hook.url}", on: [failed, aborted]}`,
        "steps:",
        "  - {at: 0s, name: baseline latency, apply: {down: {delay: 5ms}}, for: 600ms}",
        "  - {at: 600ms, name: partition, apply: partition, for: 1s}",
        "  - {at: 2s, name: half-open, apply: blackhole, for: 700ms}",
      ].join("\n"),
    );
    const reportFile = join(dir, "partition.json");
    const junitFile = join(dir, "partition.xml");
    const res = await run([scenario, "--agent", l.agent.url, "--report", reportFile, "--junit", junitFile]);
    assert.equal(res.code, 1, res.stderr);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    assert.equal(report.exitCode, 1);
    assert.equal(report.stopped, null, "the timeline played to its end; only the slo failed it");
    assert.deepEqual(report.steps.map((s) => s.status), ["done", "failed", "failed"], JSON.stringify(report.steps.map((s) => [s.sloBreaches, s.probes])));

    const [calm, partition, halfOpen] = report.steps.map((s) => s.probes!.api!);
    // the calm step: every sample answered, through the 5 ms of added delay
    assert.ok(calm!.samples >= 4 && calm!.successes === calm!.samples, JSON.stringify(calm));
    assert.equal(calm!.availability, 1);
    assert.ok(calm!.p50Ms! >= 5 && calm!.p50Ms! <= calm!.p95Ms! && calm!.p95Ms! <= calm!.p99Ms! && calm!.p99Ms! <= calm!.maxMs!, JSON.stringify(calm));
    assert.equal(calm!.recoveryMs, null, "nothing to recover from");
    // the partition: new connections are refused (reset by the proxy), nothing succeeds
    assert.ok(partition!.samples >= 7, JSON.stringify(partition));
    assert.equal(partition!.successes, 0);
    assert.equal(partition!.availability, 0);
    assert.ok((partition!.failures.reset ?? 0) + (partition!.failures.closed ?? 0) === partition!.samples, JSON.stringify(partition!.failures));
    // the half-open link: fresh connections hang, so every sample times out (no dead keep-alive socket)
    assert.ok(halfOpen!.samples >= 3 && halfOpen!.failures.timeout === halfOpen!.samples - (halfOpen!.failures.reset ?? 0), JSON.stringify(halfOpen));
    assert.equal(halfOpen!.successes, 0);

    // recovery, against the service's own clock: the first request that reached it after the step's end
    const runStart = Date.parse(report.startedAt);
    for (const [i, stats] of [[1, partition!], [2, halfOpen!]] as const) {
      const step = report.steps[i]!;
      const end = Date.parse(step.endedAt!);
      assert.ok(stats.recoveryMs !== null && stats.recoveryMs >= 0 && stats.recoveryMs < 800, `step ${i + 1} recovery ${stats.recoveryMs}`);
      const firstHit = l.service.hits.find((t) => t >= end - 5);
      assert.ok(firstHit !== undefined, `no request reached the service after step ${i + 1}`);
      const recoveredAt = end + stats.recoveryMs;
      assert.ok(Math.abs(recoveredAt - firstHit) < 150, `step ${i + 1}: recovered at +${recoveredAt - runStart} ms, first request reached the service at +${firstHit - runStart} ms`);
      // and during the step nothing reached it
      const during = l.service.hits.filter((t) => t > Date.parse(step.startedAt!) + 50 && t < end - 50);
      assert.deepEqual(during, [], `requests reached the service during step ${i + 1}`);
    }
    assert.ok(partition!.recoveryMs! <= report.totals.probes!.api!.recoveryMs! || halfOpen!.recoveryMs! <= report.totals.probes!.api!.recoveryMs!);

    // the slo's verdict
    assert.equal(report.slo!.held, false);
    const where = report.slo!.breaches.map((b) => `${b.where} ${b.what}`);
    assert.ok(where.includes("step 2 availability") && where.includes("step 3 availability") && where.includes("run availability"), where.join(", "));
    const stepBreach = report.steps[1]!.sloBreaches![0]!;
    assert.deepEqual({ ...stepBreach, got: stepBreach.got }, { probe: "api", what: "availability", limit: 0.99, got: 0, where: "step 2" });
    assert.equal(report.aborted, null);
    assert.ok(report.totals.probes!.api!.availability! > 0.2 && report.totals.probes!.api!.availability! < 0.6, JSON.stringify(report.totals.probes));

    // JUnit: the two steps are failed test cases with the figures
    const xml = await readFile(junitFile, "utf8");
    const cases = xml.split("<testcase ").slice(1);
    assert.equal(cases.length, 4, "three steps and the run-wide check");
    assert.doesNotMatch(cases[0]!, /<failure/);
    assert.match(cases[1]!, /<failure message="slo broken: api availability 0% &lt; 99%" type="SloBreach">api: 0\/\d+ ok \(0%\)/);
    assert.match(cases[2]!, /<failure message="slo broken: api availability 0% &lt; 99%" type="SloBreach">/);
    assert.match(cases[3]!, /<failure message="api availability [\d.]+% &lt; 99% \(run\)" type="SloBreach">/);
    assert.match(xml, /tests="4" failures="3" errors="0" skipped="0"/);

    // the Markdown summary
    assert.match(res.stdout, /\*\*SLO broken\*\* \(3\):/);
    assert.match(res.stdout, /\| 2 partition \| api \| \d+ \| 0 \| 0% \|/);
    assert.match(res.stdout, /\| 2 \| 600ms \| partition \| api \|.*\| slo broken \|/);

    // the webhook: one POST in Slack's shape, with the verdict and the worst figures
    assert.equal(hook.posts.length, 1);
    assert.match(hook.posts[0]!.text, /^netimpair run api-survives-partition: FAILED \(exit 1/);
    assert.match(hook.posts[0]!.text, /api availability 0% < 99% \(step 2\)/);
    assert.match(hook.posts[0]!.text, /worst 0% in step 2 partition/);
    assert.equal(report.notified!.ok, true);
    assert.equal(report.notified!.verdict, "failed");
    assert.equal(await l.agent.impairment(), null, "the run left nothing applied");
  } finally {
    await hook.close();
    await l.close();
  }
});

test("a mild step holds the slo (exit 0); tcp and exec probes run beside; a failing webhook is reported and changes nothing", async () => {
  const l = await lab();
  try {
    const scenario = await file(
      [
        "name: api-mild",
        "proxies: [api]",
        "probes:",
        `  - {name: api, http: {url: "${l.health}"}, every: 100ms, timeout: 500ms}`,
        `  - {name: port, tcp: "127.0.0.1:${l.agent.apiPort}", every: 150ms, timeout: 300ms}`,
        `  - {name: broken-check, exec: "exit 3", every: 200ms, timeout: 1s}`,
        `  - {name: good-check, exec: "true", every: 200ms, timeout: 1s}`,
        "slo: {api: {availability: 99%, p95: 400ms, recovery: 2s}, port: {availability: 99%}}",
        "steadyState: {before: 300ms, after: 300ms}",
        `notify: {webhook: "http://127.0.0.1:${await closedPort()}/hook", on: [passed]}`,
        "steps:",
        "  - {at: 0s, name: mild, apply: {down: {delay: 40ms}}, for: 1200ms}",
      ].join("\n"),
    );
    const reportFile = join(dir, "mild.json");
    const res = await run([scenario, "--agent", l.agent.url, "--report", reportFile, "--", process.execPath, "-e", "setTimeout(() => {}, 800)"]);
    assert.equal(res.code, 0, res.stderr + res.stdout);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    assert.equal(report.slo!.held, true, JSON.stringify(report.slo));
    assert.deepEqual(report.slo!.breaches, []);
    const api = report.steps[0]!.probes!.api!;
    assert.equal(api.availability, 1);
    // the 40 ms of delay each way shows in the probe's latency; before it there was none
    assert.ok(api.p50Ms! >= 40, `p50 ${api.p50Ms}`);
    assert.ok(report.steadyState!.before!.api!.p50Ms! < 30, JSON.stringify(report.steadyState!.before!.api));
    assert.ok(report.steadyState!.before!.api!.samples >= 3 && report.steadyState!.after!.api!.samples >= 3);
    assert.equal(report.steadyState!.after!.api!.availability, 1);
    assert.equal(report.steps[0]!.probes!.port!.availability, 1);
    // exec: exit 3 is a failure by its cause; true succeeds
    const broken = report.totals.probes!["broken-check"]!;
    assert.ok(broken.samples >= 3 && broken.successes === 0 && broken.failures["exit 3"] === broken.samples, JSON.stringify(broken));
    assert.equal(report.totals.probes!["good-check"]!.availability, 1);
    // the webhook could not be reached: said, and the exit code stays 0
    assert.equal(report.notified!.ok, false);
    assert.match(report.notified!.error!, /cannot POST: ECONNREFUSED/);
    assert.match(res.stderr, /notify: http:\/\/127\.0\.0\.1:\d+\/hook: cannot POST/);
    assert.match(res.stdout, /\*\*SLO held\.\*\*/);
  } finally {
    await l.close();
  }
});

test("abortWhen stops a long partition within its window: everything reverted at once, the command stopped, exit 1", async () => {
  const l = await lab();
  try {
    const pidFile = join(dir, "abort-child.pid");
    const script = await file(`import { writeFileSync } from "node:fs";\nwriteFileSync(${JSON.stringify(pidFile)}, String(process.pid));\nsetTimeout(() => {}, 60000);\n`, "mjs");
    const scenario = await file(
      [
        "name: abort-partition",
        "proxies: [api]",
        "probes:",
        `  - {name: api, http: {url: "${l.health}"}, every: 100ms, timeout: 300ms}`,
        "abortWhen: {probe: api, availabilityBelow: 50%, over: 1s}",
        "steps:",
        "  - {at: 300ms, name: long partition, apply: partition, for: 30s}",
      ].join("\n"),
    );
    const reportFile = join(dir, "abort.json");
    const junitFile = join(dir, "abort.xml");
    const watch = watchImpairment(l.agent);
    const res = await run([scenario, "--agent", l.agent.url, "--report", reportFile, "--junit", junitFile, "--", process.execPath, script]);
    await sleep(100);
    await watch.stop();
    assert.equal(res.code, 1, res.stderr);
    assert.ok(res.ms < 10_000, `took ${res.ms} ms`);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    assert.match(report.aborted!.reason, /^abortWhen: api availability \d+(\.\d)?% over the last 1s \(\d+ samples\) is below 50%$/);
    // the window is 1 s and the partition began at 300 ms: below 50% once half the window failed
    assert.ok(report.aborted!.atMs >= 1000 && report.aborted!.atMs < 2500, `aborted at ${report.aborted!.atMs} ms`);
    assert.equal(report.stopped, report.aborted!.reason);
    assert.deepEqual(report.steps.map((s) => s.status), ["cut-short"]);
    // reverted at once: the partition was gone from the agent within moments of the abort
    const runStart = Date.parse(report.startedAt);
    const applied = watch.seen.find((c) => c.profile === "partition");
    const cleared = watch.seen.find((c) => applied && c.at > applied.at && c.profile === null);
    assert.ok(applied && cleared, JSON.stringify(watch.seen));
    assert.ok(cleared.at - (runStart + report.aborted!.atMs) < 400, `cleared ${cleared.at - runStart - report.aborted!.atMs} ms after the abort`);
    assert.equal(await l.agent.impairment(), null);
    // the command was stopped
    const pid = Number(await readFile(pidFile, "utf8"));
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
    assert.equal(report.commandExit!.signal, "SIGTERM");
    assert.match(res.stdout, /\*\*Aborted\*\* after/);
    const xml = await readFile(junitFile, "utf8");
    assert.match(xml, /<failure message="aborted at \d+ ms: abortWhen: api availability/);
  } finally {
    await l.close();
  }
});

test("JUnit of an aborted run that broke the slo: one child per test case, totals that add up", async () => {
  const l = await lab();
  try {
    const scenario = await file(
      [
        "name: abort-junit",
        "proxies: [api]",
        "probes:",
        `  - {name: api, http: {url: "${l.health}"}, every: 100ms, timeout: 300ms}`,
        "abortWhen: {probe: api, availabilityBelow: 50%, over: 1s}",
        "slo: {api: {availability: 99%}}",
        "steps:",
        "  - {at: 300ms, name: long partition, apply: partition, for: 30s}",
        "  - {at: 40s, name: never, clear: true}",
      ].join("\n"),
    );
    const junitFile = join(dir, "abort-junit.xml");
    const res = await run([scenario, "--agent", l.agent.url, "--junit", junitFile]);
    assert.equal(res.code, 1, res.stderr);
    const xml = await readFile(junitFile, "utf8");
    // one child per test case (failure, error or skipped), and totals that add up
    const cases = xml.split("<testcase ").slice(1);
    for (const c of cases) assert.ok((c.match(/<failure |<error |<skipped /g) ?? []).length <= 1, `one child per test case:\n${c}`);
    const count = (re: RegExp): number => (xml.match(re) ?? []).length;
    const totals = /<testsuites name="netimpair" tests="(\d+)" failures="(\d+)" errors="(\d+)" skipped="(\d+)"/.exec(xml);
    assert.ok(totals, xml);
    assert.deepEqual(totals.slice(1).map(Number), [cases.length, count(/<failure /g), count(/<error /g), count(/<skipped /g)], xml);
    assert.match(cases[0]!, /<failure message="slo broken: api availability [^"]*; the run stopped during this step: abortWhen/, "the step's one child says both");
    assert.match(cases[1]!, /<skipped /);
    assert.match(cases[2]!, /<failure message="aborted at \d+ ms: abortWhen/);
  } finally {
    await l.close();
  }
});

test("a steadyState.before that does not hold applies nothing: not steady, exit 1, the command never runs", async () => {
  const l = await lab();
  l.service.status = 503;
  try {
    const marker = join(dir, "not-steady-ran.txt");
    const scenario = await file(
      [
        "name: not-steady",
        "proxies: [api]",
        "probes:",
        `  - {name: api, http: {url: "${l.health}", status: 200}, every: 100ms, timeout: 300ms}`,
        "slo: {api: {availability: 90%}}",
        "steadyState: {before: 500ms}",
        "steps:",
        "  - {at: 0s, name: partition, apply: partition, for: 1s}",
      ].join("\n"),
    );
    const reportFile = join(dir, "not-steady.json");
    const watch = watchImpairment(l.agent);
    const res = await run([scenario, "--agent", l.agent.url, "--report", reportFile, "--", process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, "x")`]);
    await watch.stop();
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /not steady: api availability 0% < 90%; nothing was applied/);
    assert.equal(existsSync(marker), false, "the command never ran");
    assert.deepEqual(watch.seen.map((c) => c.profile), [null], "nothing was ever applied");
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    const before = report.steadyState!.before!.api!;
    assert.ok(before.samples >= 4 && before.failures["status 503"] === before.samples, JSON.stringify(before));
    assert.deepEqual(report.steps.map((s) => s.status), ["not-reached"]);
    assert.equal(report.slo!.held, false);
    assert.equal(report.slo!.breaches[0]!.where, "steadyState.before");
  } finally {
    await l.close();
  }
});
