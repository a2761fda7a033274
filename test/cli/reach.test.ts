// Reaching agents: a dns:// name with no address is an agent not reached (exit 1, not a usage
// error); wss:// agents with --ca or NODE_EXTRA_CA_CERTS, and hints when the scheme is the wrong
// one; --timeout ends the process on time. Real agent processes, real CLI processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocketServer } from "ws";
import { startCliAgent } from "../support/cli-agent.js";
import { CLI_PATH, runCli } from "../support/cli.js";
import { TEST_CERT, TEST_KEY } from "../support/tls-fixture.js";

test("--agent dns://NAME that resolves to nothing: exit 1 naming the name; the other agents still run", async () => {
  const r = await runCli(["--agent", "dns://no-such-agents.invalid:8474", "status"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^dns:\/\/no-such-agents\.invalid:8474: cannot resolve "no-such-agents\.invalid" \(\w+\): no agent to reach/m);

  // `run` too: an agent not reached at the start means nothing runs (exit 1)
  const dir = await mkdtemp(join(tmpdir(), "netimpair-reach-dns-"));
  const scenario = join(dir, "scenario.yaml");
  await writeFile(scenario, "name: dns-run\nproxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g, for: 1s}\n");
  const run = await runCli(["run", scenario, "--agent", "dns://no-such-agents.invalid:8474"]);
  await rm(dir, { recursive: true, force: true });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^dns:\/\/no-such-agents\.invalid:8474: cannot resolve "no-such-agents\.invalid"/m);

  const agent = await startCliAgent();
  try {
    const both = await runCli(["--json", "--agent", `dns://no-such-agents.invalid:8474,${agent.url}`, "proxy", "ls"]);
    assert.equal(both.code, 1, both.stderr);
    const doc = JSON.parse(both.stdout) as { url: string; ok: boolean; error?: string }[];
    assert.deepEqual(
      doc.map((o) => [o.url, o.ok]),
      [
        ["dns://no-such-agents.invalid:8474", false],
        [agent.url, true],
      ],
    );
  } finally {
    await agent.stop();
  }
});

test("a wss:// agent: --ca FILE or NODE_EXTRA_CA_CERTS trusts it; without, the error says how; plain HOST:PORT hints at wss://", async () => {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-reach-tls-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  await writeFile(cert, TEST_CERT);
  await writeFile(key, TEST_KEY, { mode: 0o600 });
  const agent = await startCliAgent(["--tls-cert", cert, "--tls-key", key, "--proxy", "pg=127.0.0.1:0,127.0.0.1:1"]);
  try {
    assert.match(agent.url, /^wss:\/\/127\.0\.0\.1:\d+\/control$/);
    const hostPort = new URL(agent.url).host;

    const untrusted = await runCli(["--agent", agent.url, "proxy", "ls"]);
    assert.equal(untrusted.code, 1, untrusted.stderr);
    assert.match(untrusted.stderr, /self-signed certificate \(trust the agent's CA with --ca FILE or env NODE_EXTRA_CA_CERTS=FILE\)/);

    const withCa = await runCli(["--agent", agent.url, "--ca", cert, "proxy", "ls"]);
    assert.equal(withCa.code, 0, withCa.stderr);
    assert.match(withCa.stdout, /^wss:\S+\s+pg\s/m);

    const withEnv = await runCli(["--agent", agent.url, "proxy", "ls"], { env: { NODE_EXTRA_CA_CERTS: cert } });
    assert.equal(withEnv.code, 0, withEnv.stderr);

    const plain = await runCli(["--agent", hostPort, "proxy", "ls"]);
    assert.equal(plain.code, 1, plain.stderr);
    assert.ok(plain.stderr.includes(`is the agent using TLS? try wss://${hostPort}`), plain.stderr);

    const noFile = await runCli(["--agent", agent.url, "--ca", join(dir, "nope.pem"), "proxy", "ls"]);
    assert.equal(noFile.code, 2, noFile.stderr);
    assert.match(noFile.stderr, /^netimpair: --ca ".*nope\.pem": cannot read it \(ENOENT\)/);
    const notPem = await runCli(["--agent", agent.url, "--ca", key, "proxy", "ls"]);
    assert.equal(notPem.code, 2, notPem.stderr);
    assert.match(notPem.stderr, /--ca ".*key\.pem": not a PEM certificate/);

    // `run` trusts --ca too (its control sessions are its own)
    const scenario = join(dir, "scenario.yaml");
    await writeFile(scenario, "name: tls-run\nproxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g, for: 200ms}\n");
    const run = await runCli(["run", scenario, "--agent", agent.url, "--ca", cert]);
    assert.equal(run.code, 0, run.stderr);
    const runUntrusted = await runCli(["run", scenario, "--agent", agent.url]);
    assert.equal(runUntrusted.code, 1);
    assert.match(runUntrusted.stderr, /self-signed certificate/);
  } finally {
    await agent.stop();
  }
  // wss:// to a plain agent: the hint goes the other way
  const plainAgent = await startCliAgent();
  try {
    const hostPort = new URL(plainAgent.url).host;
    const r = await runCli(["--agent", `wss://${hostPort}/control`, "proxy", "ls"]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(`is the agent serving plain ws? try ws://${hostPort}`), r.stderr);
  } finally {
    await plainAgent.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

/** Runs the CLI and notes when its "timed out" line arrived and when the process ended (ms since spawn). */
async function runTimed(args: string[]): Promise<{ code: number | null; stderr: string; printedAt: number | null; exitedAt: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  let printedAt: number | null = null;
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
    if (printedAt === null && stderr.includes("timed out")) printedAt = performance.now() - started;
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(killer);
  return { code, stderr, printedAt, exitedAt: performance.now() - started };
}

test("--timeout: the process exits on time against an agent that never answers (no socket or timer left behind)", async () => {
  // one accepts TCP and never speaks HTTP; one completes the WebSocket upgrade and never answers a call
  const held = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    s.on("error", () => {});
    held.add(s);
  });
  silent.listen(0, "127.0.0.1");
  await once(silent, "listening");
  const mute = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(mute, "listening");
  try {
    for (const port of [(silent.address() as AddressInfo).port, (mute.address() as AddressInfo).port]) {
      for (const cmd of [["status"], ["panic"]]) {
        const r = await runTimed(["--timeout", "1s", "--agent", `127.0.0.1:${port}`, ...cmd]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^ws://127\\.0\\.0\\.1:${port}/control: timed out after 1s`, "m"));
        assert.ok(r.printedAt !== null);
        const lingered = r.exitedAt - r.printedAt;
        assert.ok(lingered < 300, `${cmd[0]} against port ${port}: exited ${Math.round(lingered)} ms after printing the timeout`);
      }
    }
  } finally {
    for (const s of held) s.destroy();
    silent.close();
    for (const c of mute.clients) c.terminate();
    mute.close();
  }
});

test("--timeout shorter than status's 1 s sample still answers from a live agent", async () => {
  const agent = await startCliAgent();
  try {
    const r = await runCli(["--timeout", "800ms", "--agent", agent.url, "status"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(no proxies\)/);
  } finally {
    await agent.stop();
  }
});
