// Fleet targeting without a live agent: inventories, --select, dns:// expansion, unreachable
// and silent agents, through the real binary and through the fleet module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { closedPort, runCli } from "../support/cli.js";
import { parseInventory, parseSelector, resolveTargets } from "../../src/cli/fleet.js";
import { UsageError } from "../../src/cli/output.js";

async function tempDir(): Promise<{ dir: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-fleet-"));
  return { dir, done: () => rm(dir, { recursive: true, force: true }) };
}

test("an unreachable agent is reported with its URL and exit 1", async () => {
  const port = await closedPort();
  const url = `ws://127.0.0.1:${port}/control`;
  const r = await runCli(["--agent", url, "status"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `${url}: connection refused`);
});

test("HOST:PORT and comma-separated --agent values, from the flag and from NETIMPAIR_AGENT", async () => {
  const [a, b] = [await closedPort(), await closedPort()];
  const r = await runCli(["panic", "--agent", `127.0.0.1:${a},ws://127.0.0.1:${b}/control`]);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split("\n").sort();
  assert.deepEqual(lines, [`ws://127.0.0.1:${a}/control: connection refused`, `ws://127.0.0.1:${b}/control: connection refused`].sort());
  const e = await runCli(["panic"], { env: { NETIMPAIR_AGENT: `127.0.0.1:${a}` } });
  assert.equal(e.code, 1);
  assert.equal(e.stderr.trim(), `ws://127.0.0.1:${a}/control: connection refused`);
});

test("--json with failing agents prints an array of {agent, url, ok, error}", async () => {
  const [a, b] = [await closedPort(), await closedPort()];
  const r = await runCli(["--json", "--agent", `127.0.0.1:${a}`, "--agent", `127.0.0.1:${b}`, "clear"]);
  assert.equal(r.code, 1);
  const doc = JSON.parse(r.stdout) as { agent: string; url: string; ok: boolean; error: string }[];
  assert.deepEqual(
    doc.map((d) => [d.agent, d.url, d.ok, d.error]),
    [a, b].map((p) => [`ws://127.0.0.1:${p}/control`, `ws://127.0.0.1:${p}/control`, false, "connection refused"]),
  );
});

test("an agent that accepts but never answers times out after --timeout", async () => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    s.on("error", () => {});
    sockets.add(s);
  });
  server.on("error", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  try {
    const r = await runCli(["--timeout", "400ms", "--agent", `127.0.0.1:${port}`, "status"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^ws://127\\.0\\.0\\.1:${port}/control: timed out`));
    assert.ok(r.elapsedMs >= 390, `waited ${r.elapsedMs} ms`);
    assert.ok(r.elapsedMs < 8000, `gave up after ${r.elapsedMs} ms`);
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test("an HTTP server answering 401 is reported as unauthorized", async () => {
  const { createServer } = await import("node:http");
  const server = createServer((_req, res) => {
    res.writeHead(401).end();
  });
  server.on("error", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  try {
    const r = await runCli(["--agent", `127.0.0.1:${port}`, "status"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `ws://127.0.0.1:${port}/control: 401 unauthorized (the agent needs a token)`);
    const t = await runCli(["--agent", `127.0.0.1:${port}`, "--token", "nope", "status"]);
    assert.equal(t.stderr.trim(), `ws://127.0.0.1:${port}/control: 401 unauthorized (the token was not accepted)`);
  } finally {
    server.close();
    server.closeAllConnections();
  }
});

test("dns://localhost:PORT reaches every address localhost resolves to", async () => {
  const port = await closedPort();
  const addrs = [...new Set((await lookup("localhost", { all: true })).map((a) => a.address))];
  assert.ok(addrs.length >= 1);
  const expected = addrs.map((a) => `ws://${a.includes(":") ? `[${a}]` : a}:${port}/control`).sort();
  const r = await runCli(["--json", "--agent", `dns://localhost:${port}`, "panic"]);
  assert.equal(r.code, 1);
  if (expected.length === 1) {
    assert.equal(r.stdout, "", "one agent that failed: no document, its line on stderr");
  } else {
    const outcomes = JSON.parse(r.stdout) as { url: string; ok: boolean }[];
    assert.deepEqual(outcomes.map((o) => o.url).sort(), expected);
    assert.ok(outcomes.every((o) => !o.ok));
  }
  assert.deepEqual(r.stderr.trim().split("\n").map((l) => l.split(": ")[0]).sort(), expected);
});

test("dns:// expansion brackets IPv6 addresses and fails clearly on unknown names", async () => {
  const targets = await resolveTargets({
    agent: ["dns://agents.example:8474"],
    select: [],
    env: {},
    resolveName: async () => ["10.0.0.5", "fd00::7"],
  });
  assert.deepEqual(
    targets.map((t) => [t.name, t.url]),
    [
      ["ws://10.0.0.5:8474/control", "ws://10.0.0.5:8474/control"],
      ["ws://[fd00::7]:8474/control", "ws://[fd00::7]:8474/control"],
    ],
  );
  // a name with no address is an agent not reached (exit 1), not a usage error
  const r = await runCli(["--agent", "dns://no-such-host.invalid:8474", "status"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /dns:\/\/no-such-host\.invalid:8474: cannot resolve "no-such-host\.invalid"/);
});

test("inventory: --select picks agents whose labels match every pair, named by inventory name", async () => {
  const t = await tempDir();
  try {
    const [a, b, c] = [await closedPort(), await closedPort(), await closedPort()];
    const inv = join(t.dir, "agents.yaml");
    await writeFile(
      inv,
      [
        "agents:",
        `  - {name: orders-1, url: "ws://127.0.0.1:${a}/control", labels: {service: orders, env: staging}}`,
        `  - {name: orders-2, url: "127.0.0.1:${b}", labels: {service: orders, env: prod}}`,
        `  - {name: pay-1, url: "ws://127.0.0.1:${c}/control", labels: {service: payments, env: staging}}`,
      ].join("\n"),
    );
    const r = await runCli(["--agents", inv, "--select", "env=staging", "panic"]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.stderr.trim().split("\n").sort(), [
      `orders-1 (ws://127.0.0.1:${a}/control): connection refused`,
      `pay-1 (ws://127.0.0.1:${c}/control): connection refused`,
    ]);
    const both = await runCli(["--agents", inv, "--select", "env=staging,service=orders", "--json", "panic"]);
    assert.equal(both.code, 1);
    assert.equal(both.stdout, "", "one agent that failed: no document");
    assert.equal(both.stderr.trim(), `orders-1 (ws://127.0.0.1:${a}/control): connection refused`);
    // --agent and --agents add up
    const d = await closedPort();
    const sum = await runCli(["--agents", inv, "--select", "service=payments", "--agent", `127.0.0.1:${d}`, "--json", "panic"]);
    const docs = JSON.parse(sum.stdout) as { agent: string }[];
    assert.deepEqual(docs.map((x) => x.agent).sort(), [`ws://127.0.0.1:${d}/control`, "pay-1"].sort());
    // nothing selected: usage error
    const none = await runCli(["--agents", inv, "--select", "env=dev", "panic"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--select env=dev: matches no agent/);
  } finally {
    await t.done();
  }
});

test("inventory errors name the file, the entry and the field", async () => {
  const t = await tempDir();
  try {
    const check = async (yaml: string, mention: RegExp): Promise<void> => {
      const inv = join(t.dir, "bad.yaml");
      await writeFile(inv, yaml);
      const r = await runCli(["--agents", inv, "status"]);
      assert.equal(r.code, 2, `${yaml} -> ${r.stderr}`);
      assert.match(r.stderr, mention);
      assert.ok(r.stderr.includes(inv), r.stderr);
    };
    await check("agents: [{name: a}]", /agents\[0\]\.url: expected a URL string, got nothing/);
    await check("agents: [{url: 'ws://127.0.0.1:1/control', labels: [a]}]", /agents\[0\]\.labels: expected a mapping/);
    await check("agents: [{url: 'ws://127.0.0.1:1/control', lables: {a: b}}]", /agents\[0\]\.lables: unknown field/);
    await check("agents: [{url: 'ws://127.0.0.1:1/control', tokenFile: missing.token}]", /tokenFile .*missing\.token: cannot read \(ENOENT\)/);
    await check("agents: {a: 1}", /agents: expected a list/);
    await check("agents: [\n  - x: [", /not valid YAML/);
    const r = await runCli(["--agents", join(t.dir, "nope.yaml"), "status"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nope\.yaml: cannot read \(ENOENT\)/);
  } finally {
    await t.done();
  }
});

test("parseInventory and parseSelector: values, relative token files, conflicts", () => {
  const inv = parseInventory(
    { agents: [{ name: "a", url: "ws://h:1/control", labels: { zone: 3, canary: true }, tokenFile: "secrets/a.token" }] },
    "/etc/netimpair/agents.yaml",
  );
  assert.deepEqual(inv, [{ name: "a", url: "ws://h:1/control", labels: { zone: "3", canary: "true" }, tokenFile: "/etc/netimpair/secrets/a.token" }]);
  assert.throws(() => parseInventory({ agents: [{ name: "a", url: "x" }, { name: "a", url: "y" }] }, "f.yaml"), /agents\[1\]\.name: "a" is used twice/);
  assert.deepEqual(parseSelector(["env=prod, service=orders", "zone=3"]), { env: "prod", service: "orders", zone: "3" });
  assert.throws(() => parseSelector(["env"]), (e: unknown) => e instanceof UsageError && /--select "env": expected key=value/.test(e.message));
  assert.throws(() => parseSelector(["env=a", "env=b"]), /both "a" and "b"/);
});
