// Each probe kind against real loopback servers and real commands: what counts as a success, and
// the cause each failure is counted under. The cadence of a probe loop, and the figures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { sampleOnce, ProbeLoop } from "../../src/experiment/probes/probe.js";
import { percentile, recoveryAfter, summarize } from "../../src/experiment/stats.js";
import type { ProbeCheck, ProbeDef, Sample } from "../../src/experiment/types.js";
import { closedPort } from "../support/cli.js";
import { blackHoleUpstream } from "../support/black-hole.js";
import { startServer, sleep } from "../support/net.js";
import { startCliAgent } from "../support/cli-agent.js";
import { connect } from "../../src/control/client.js";
import { RESET_WINDOW_MS } from "../../src/experiment/probes/tcp.js";

/** A process that exited (or is a zombie nobody reaped yet: killed all the same). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

function probe(check: ProbeCheck, timeout = 500, every = 100): ProbeDef {
  return { name: "p", check, every, timeout };
}

async function once1(check: ProbeCheck, timeout = 500): Promise<{ ok: boolean; cause?: string }> {
  const { ok, cause } = await sampleOnce(probe(check, timeout), new AbortController().signal);
  return cause === undefined ? { ok } : { ok, cause };
}

test("http: the expected status and body succeed; another status, a missing body, refused, a silent server and a cut answer fail by cause", async () => {
  let status = 200;
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    if (req.url === "/silent") return; // never answers
    if (req.url === "/cut") {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.writeHead(status).end(req.method === "HEAD" ? undefined : "service healthy");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.deepEqual(await once1({ kind: "http", url: `${base}/health`, method: "GET", status: 200 }), { ok: true });
    assert.deepEqual(await once1({ kind: "http", url: `${base}/health`, method: "GET", status: 200, body: "healthy" }), { ok: true });
    assert.deepEqual(await once1({ kind: "http", url: `${base}/health`, method: "GET", status: 200, body: "ready" }), { ok: false, cause: "body mismatch" });
    assert.deepEqual(await once1({ kind: "http", url: `${base}/health`, method: "HEAD", status: 200 }), { ok: true });
    status = 503;
    assert.deepEqual(await once1({ kind: "http", url: `${base}/health`, method: "GET", status: 200 }), { ok: false, cause: "status 503" });
    assert.deepEqual(await once1({ kind: "http", url: `${base}/health`, method: "GET", status: 503 }), { ok: true }, "the expected status may be any");
    const t = performance.now();
    assert.deepEqual(await once1({ kind: "http", url: `${base}/silent`, method: "GET", status: 200 }, 200), { ok: false, cause: "timeout" });
    assert.ok(performance.now() - t >= 195 && performance.now() - t < 600);
    const cut = await once1({ kind: "http", url: `${base}/cut`, method: "GET", status: 200 });
    assert.equal(cut.ok, false);
    assert.ok(cut.cause === "closed" || cut.cause === "reset", cut.cause);
    assert.deepEqual(await once1({ kind: "http", url: `http://127.0.0.1:${await closedPort()}/`, method: "GET", status: 200 }), { ok: false, cause: "refused" });
    // one fresh connection per sample: nothing is kept alive between them
    const before = requests;
    for (let i = 0; i < 3; i++) await once1({ kind: "http", url: `${base}/health`, method: "GET", status: 503 });
    assert.equal(requests - before, 3);
    await sleep(20);
    const open = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    assert.ok(open <= 1, `${open} connections still open (the silent one at most)`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("tcp: a connect succeeds; a closed port is refused; a dial that never completes times out", async () => {
  const peer = await startServer((s) => s.end());
  const hole = await blackHoleUpstream();
  try {
    assert.deepEqual(await once1({ kind: "tcp", host: "127.0.0.1", port: peer.port }), { ok: true });
    assert.deepEqual(await once1({ kind: "tcp", host: "127.0.0.1", port: await closedPort() }), { ok: false, cause: "refused" });
    const [host, port] = hole.address.split(":");
    // fill the backlog, then a dial hangs
    const results = await Promise.all([1, 2, 3, 4].map(() => once1({ kind: "tcp", host: host!, port: Number(port) }, 300)));
    assert.ok(results.some((r) => r.cause === "timeout"), JSON.stringify(results));
  } finally {
    await hole.close();
    await peer.close();
  }
});

test("tcp through an agent's partition (accepts, then resets): the reset is a failure, cause reset; cleared, it succeeds again", async () => {
  const peer = await startServer(() => undefined);
  const agent = await startCliAgent(["--proxy", `db=127.0.0.1:0,127.0.0.1:${peer.port}`]);
  const ctl = await connect(agent.url);
  try {
    const check: ProbeCheck = { kind: "tcp", host: "127.0.0.1", port: agent.port("db") };
    assert.deepEqual(await once1(check), { ok: true });
    await ctl.apply("db", "partition");
    for (let i = 0; i < 3; i++) assert.deepEqual(await once1(check), { ok: false, cause: "reset" });
    await ctl.clear("db");
    const t = performance.now();
    const sample = await sampleOnce(probe(check), new AbortController().signal);
    assert.equal(sample.ok, true);
    // its time is the connect's, not the watch for a reset after it
    assert.ok(sample.answeredAt !== undefined && sample.answeredAt - t < RESET_WINDOW_MS, `answered after ${(sample.answeredAt ?? 0) - t} ms`);
  } finally {
    await ctl.close();
    await agent.stop();
    await peer.close();
  }
});

test("exec: exit 0 succeeds, exit n fails as 'exit n', a command past its timeout is killed with what it started", async () => {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-exec-"));
  try {
    assert.deepEqual(await once1({ kind: "exec", command: "true" }), { ok: true });
    assert.deepEqual(await once1({ kind: "exec", command: "exit 1" }), { ok: false, cause: "exit 1" });
    assert.deepEqual(await once1({ kind: "exec", command: "echo broken >&2; exit 7" }), { ok: false, cause: "exit 7" });
    assert.deepEqual(await once1({ kind: "exec", command: "no-such-command-netimpair" }), { ok: false, cause: "exit 127" });
    const pidFile = join(dir, "sleep.pid");
    const t = performance.now();
    assert.deepEqual(await once1({ kind: "exec", command: `sleep 30 & echo $! > ${pidFile}; wait` }, 300), { ok: false, cause: "timeout" });
    assert.ok(performance.now() - t < 1000);
    await sleep(100);
    assert.ok(existsSync(pidFile));
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    assert.ok(gone(pid), "the sleep the command started was killed with it");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a probe loop samples on its cadence, overlapping when a sample outlasts it, and stop drops what is in flight", async () => {
  const server = createServer((_req, res) => setTimeout(() => res.end("ok"), 250));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const loop = new ProbeLoop(probe({ kind: "http", url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, method: "GET", status: 200 }, 1000, 100));
    const t = performance.now();
    loop.start();
    await sleep(1000);
    await loop.settle();
    const starts = loop.samples.map((s) => s.start - t).sort((a, b) => a - b);
    // about 10 samples in 1 s although each takes 250 ms
    assert.ok(loop.samples.length >= 8 && loop.samples.length <= 11, `${loop.samples.length} samples`);
    assert.ok(loop.samples.every((s) => s.ok && s.ms >= 245), JSON.stringify(loop.samples.map((s) => s.ms)));
    const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
    assert.ok(gaps.every((g) => g > 60 && g < 160), `gaps ${gaps.map((g) => g.toFixed(0)).join(",")}`);
    const n = loop.samples.length;
    const loop2 = new ProbeLoop(loop.def);
    loop2.start();
    await sleep(120);
    loop2.stop();
    await sleep(300);
    assert.equal(loop2.samples.length, 0, "samples in flight at stop are dropped");
    assert.equal(loop.samples.length, n);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("figures: nearest-rank percentiles of the successes, failures by cause, recovery at the first of three successes", () => {
  assert.equal(percentile([], 0.5), null);
  assert.equal(percentile([5], 0.99), 5);
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 0.5), 50);
  assert.equal(percentile(xs, 0.95), 95);
  assert.equal(percentile(xs, 0.99), 99);
  const s = (start: number, ok: boolean, ms = 10, cause?: string): Sample => ({ start, end: start + ms, ok, ms, ...(cause ? { cause } : {}) });
  const samples = [s(0, true, 10), s(100, false, 300, "timeout"), s(200, false, 1, "refused"), s(300, false, 1, "refused"), s(400, true, 20), s(500, true, 30), s(600, false, 5, "status 503"), s(700, true, 12), s(800, true, 14), s(900, true, 16)];
  const st = summarize(samples, 123.4);
  assert.deepEqual(st, { samples: 10, successes: 6, availability: 0.6, p50Ms: 14, p95Ms: 30, p99Ms: 30, maxMs: 30, failures: { timeout: 1, refused: 2, "status 503": 1 }, recoveryMs: 123 });
  // after 150: 400 and 500 succeed but 600 fails; 700, 800, 900 are three in a row: 700's end (712) - 150
  assert.equal(recoveryAfter(samples, 150), 562);
  assert.equal(recoveryAfter(samples, 750), null, "two successes are not a recovery");
  assert.deepEqual(summarize([]), { samples: 0, successes: 0, availability: null, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null, failures: {}, recoveryMs: null });
});
