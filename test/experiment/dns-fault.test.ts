// The experiment runner with a DNS fault: a small node service resolves its backend's name through
// a dns proxy (in front of a real dnsmasq) on every request; a scenario step applies dns-servfail
// to that proxy while an http probe watches the service. The step breaks the slo, the service
// recovers when the step ends, and nothing is left applied.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import { Resolver } from "node:dns/promises";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunReport } from "../../src/report/report.js";
import { CLI_PATH } from "../support/cli.js";
import { startCliAgent } from "../support/cli-agent.js";
import { startDnsmasq } from "../support/dns-peers.js";

test("a dns-servfail step breaks a service that resolves through the dns proxy; the run measures it and reverts it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-dns-experiment-"));
  const dnsmasq = await startDnsmasq();
  const agent = await startCliAgent(["--proxy", `dns=127.0.0.1:0,127.0.0.1:${dnsmasq.port},dns`]);
  // the service: each request resolves backend.x.test through the agent (no cache), 503 when it cannot
  const resolver = new Resolver({ timeout: 800, tries: 1 });
  resolver.setServers([`127.0.0.1:${agent.port("dns")}`]);
  const errors: string[] = [];
  const service = http.createServer((_req, res) => {
    resolver.resolve4("backend.x.test").then(
      (addrs) => res.end(`ok ${addrs.join(",")}`),
      (err: NodeJS.ErrnoException) => {
        errors.push(err.code ?? "?");
        res.statusCode = 503;
        res.end(`cannot resolve backend.x.test: ${err.code}`);
      },
    );
  });
  await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", () => resolve()));
  const port = (service.address() as { port: number }).port;
  try {
    const scenario = join(dir, "dns.yaml");
    await writeFile(
      scenario,
      [
        "name: backend-name-fails",
        "proxies: [dns]",
        "probes:",
        `  - {name: svc, http: {url: "http://127.0.0.1:${port}/", status: 200, body: "ok 127.0.0.5"}, every: 100ms, timeout: 1s}`,
        "slo: {svc: {availability: 99%}}",
        "steps:",
        "  - {at: 0s, name: calm, apply: clean, for: 700ms}",
        "  - {at: 700ms, name: resolver fails, apply: dns-servfail, for: 1s}",
        "  - {at: 1700ms, name: after, apply: clean, for: 700ms}",
      ].join("\n"),
    );
    const reportFile = join(dir, "report.json");
    const env = { ...process.env };
    delete env.NETIMPAIR_AGENT;
    const child = spawn(process.execPath, [CLI_PATH, "run", scenario, "--agent", agent.url, "--report", reportFile], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdout.resume();
    const [code] = (await once(child, "close")) as [number | null];
    assert.equal(code, 1, `the slo broke: exit 1\n${stderr}`);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RunReport;
    assert.deepEqual(report.steps.map((s) => s.status), ["done", "failed", "done"], JSON.stringify(report.steps.map((s) => s.probes)));
    const [calm, failing, afterStep] = report.steps.map((s) => s.probes!.svc!);
    assert.equal(calm!.availability, 1, JSON.stringify(calm));
    assert.ok(failing!.samples >= 5, JSON.stringify(failing));
    assert.ok(failing!.availability! <= 0.2, `the service failed while its resolver answered SERVFAIL: ${JSON.stringify(failing)}`);
    assert.ok((failing!.failures["status 503"] ?? 0) >= failing!.samples - 2, JSON.stringify(failing!.failures));
    assert.ok(afterStep!.availability! >= 0.8, `it recovered once the step ended: ${JSON.stringify(afterStep)}`);
    // (a loaded machine may add a timeout or two)
    const servfails = errors.filter((e) => e === "ESERVFAIL").length;
    assert.ok(servfails >= failing!.samples - 2 && servfails >= errors.length * 0.8, `the service saw ESERVFAIL: ${errors.join(",")}`);
    assert.match(JSON.stringify(report.slo?.breaches ?? []), /step 2/);
    // nothing left applied: a plain query resolves again
    assert.deepEqual(await resolver.resolve4("backend.x.test"), ["127.0.0.5"]);
  } finally {
    await new Promise<void>((resolve) => service.close(() => resolve()));
    await agent.stop();
    await dnsmasq.close();
    await rm(dir, { recursive: true, force: true });
  }
});
