// Faults in the answer the way users reach them: `netimpair agent` as the CLI starts it, rules
// from `apply --request` and from a scenario step, and what shows afterwards (conns, /metrics,
// the request_fault log line). The server counts what reaches it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { startCliAgent, type CliAgent } from "../support/cli-agent.js";
import { runCli } from "../support/cli.js";

let server: http.Server;
let agent: CliAgent;
let at: string[];
const seen: string[] = [];
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(path: string, agentOpt: http.Agent | false = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: agent.port("web"), path, agent: agentOpt }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("aborted", () => reject(new Error(`aborted after ${body.length} bytes`)));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
}

before(async () => {
  server = http.createServer((req, res) => {
    seen.push(req.url ?? "");
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ path: req.url, pad: "x".repeat(1000) }));
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  agent = await startCliAgent(["--proxy", `web=127.0.0.1:0,127.0.0.1:${(server.address() as AddressInfo).port}`]);
  at = ["--agent", agent.url];
  const u = await runCli([...at, "proxy", "update", "web", "--protocol", "http"]);
  assert.equal(u.code, 0, u.stderr);
});

after(async () => {
  keepAlive.destroy();
  await agent?.stop();
  server?.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

test("apply --request truncate: node http sees a premature close, the server did the work; metrics and the log say truncated", async () => {
  const ap = await runCli([...at, "apply", "clean", "--proxy", "web", "--request", '{match: {path: "/x"}, truncate: 100}']);
  assert.equal(ap.code, 0, ap.stderr);
  try {
    await assert.rejects(get("/x"), /aborted after 100 bytes/);
    assert.equal(seen.filter((s) => s === "/x").length, 1);
    assert.equal((await get("/y")).status, 200);
    const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
    assert.match(metrics, /netimpair_requests_total\{proxy="web",protocol="http",outcome="truncated"\} 1/);
    const line = await agent.waitForLog((l) => l.event === "request_fault" && l.outcome === "truncated");
    assert.equal(line.request, "GET /x");
    assert.match(String(line.rule), /truncate after 100B/);
  } finally {
    await runCli([...at, "clear"]);
  }
});

test("apply --request rateLimit: 429 over the budget, conns shows it; a key the protocol lacks is refused", async () => {
  const ap = await runCli([...at, "apply", "clean", "--proxy", "web", "--request", "{match: {path: /lim}, rateLimit: {rate: 1/min, burst: 1}}"]);
  assert.equal(ap.code, 0, ap.stderr);
  try {
    assert.equal((await get("/lim", keepAlive)).status, 200);
    const limited = await get("/lim", keepAlive);
    assert.equal(limited.status, 429);
    const c = await runCli([...at, "conns", "--proxy", "web"]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /requests: 1 limited/);
    const bad = await runCli([...at, "apply", "clean", "--proxy", "web", "--request", "{match: {}, rateLimit: {rate: 1/s, per: metadata:tenant}}"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /rateLimit\.per: the http protocol has no metadata to key on/);
  } finally {
    keepAlive.destroy();
    await runCli([...at, "clear"]);
  }
});

test("a scenario step's inline requests: malform while the command runs", async () => {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-answer-run-"));
  try {
    const scenario = join(dir, "scenario.yaml");
    await writeFile(
      scenario,
      ["name: answers-malformed", "proxies: [web]", "steps:", '  - {at: 0s, apply: {requests: [{match: {path: "/m"}, malform: "<html>oops</html>"}]}}', ""].join("\n"),
    );
    const url = `http://127.0.0.1:${agent.port("web")}/m`;
    // the command exits 0 only when the body is the malformed text and JSON.parse fails on it
    const script = `fetch(${JSON.stringify(url)}).then(r => r.text()).then(t => { try { JSON.parse(t); process.exit(3); } catch { process.exit(t === "<html>oops</html>" ? 0 : 4); } })`;
    const before = seen.filter((s) => s === "/m").length;
    const run = await runCli(["run", scenario, ...at, "--", process.execPath, "-e", script]);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.equal(seen.filter((s) => s === "/m").length - before, 1, "the request reached the server");
    // reverted at the end of the run
    assert.equal(JSON.parse((await get("/m")).body).path, "/m");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
