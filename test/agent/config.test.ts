// agent.yaml loading and flag merging: flags win, errors name file, field and value, the token
// file must not be world-readable.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAgentConfig, ConfigError, type AgentFlags } from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "netimpair-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function flags(extra: Partial<AgentFlags> = {}): AgentFlags {
  return { proxy: [], label: [], allowOrigin: [], ...extra };
}
function file(name: string, text: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

test("defaults without a config file", async () => {
  const c = await loadAgentConfig(flags());
  assert.equal(c.control, "127.0.0.1:8474");
  assert.equal(c.token, null);
  assert.deepEqual(c.proxies, []);
  assert.equal(c.logLevel, "info");
  assert.equal(c.insecure, false);
  assert.equal(c.tls, null);
});

test("reads every field; relative paths are relative to the config file; the token is trimmed", async () => {
  file("token", "  abc123\n");
  file("cert.pem", "CERT");
  file("key.pem", "KEY");
  mkdirSync(join(dir, "profiles"), { recursive: true });
  const cfg = file(
    "agent.yaml",
    `control: 0.0.0.0:9000
tokenFile: token
labels: {service: orders, env: staging, shard: 3}
profiles: ./profiles
proxies:
  - {name: pg, listen: 0.0.0.0:15432, upstream: postgres:5432, profile: 4g}
  - {name: redis, listen: "127.0.0.1:16379", upstream: "127.0.0.1:6379", enabled: false, maxConnections: 10, protocol: redis}
tls: {cert: cert.pem, key: key.pem}
logLevel: debug
allowOrigins: [https://dash.example.com]
insecure: false
maxControlConnections: 5
linkWriteBudget: 500
`,
  );
  const c = await loadAgentConfig(flags({ config: cfg }));
  assert.equal(c.control, "0.0.0.0:9000");
  assert.equal(c.token, "abc123");
  assert.deepEqual(c.labels, { service: "orders", env: "staging", shard: "3" });
  assert.deepEqual(c.profileDirs, [join(dir, "profiles")]);
  assert.deepEqual(c.proxies, [
    { name: "pg", listen: "0.0.0.0:15432", upstream: "postgres:5432", profile: "4g", enabled: true, maxConnections: 0, protocol: "tcp" },
    { name: "redis", listen: "127.0.0.1:16379", upstream: "127.0.0.1:6379", enabled: false, maxConnections: 10, protocol: "redis" },
  ]);
  assert.equal(String(c.tls?.cert), "CERT");
  assert.equal(String(c.tls?.key), "KEY");
  assert.equal(c.logLevel, "debug");
  assert.deepEqual(c.allowOrigins, ["https://dash.example.com"]);
  assert.equal(c.maxControlConnections, 5);
  assert.equal(c.linkWriteBudget, 500);

  // flags win
  const f = await loadAgentConfig(
    flags({ config: cfg, control: "127.0.0.1:0", proxy: ["pg=127.0.0.1:0,127.0.0.1:5433", "mq=127.0.0.1:0,127.0.0.1:5672"], label: ["env=prod"], logLevel: "warn", insecure: true, allowOrigin: ["http://x"] }),
  );
  assert.equal(f.control, "127.0.0.1:0");
  assert.deepEqual(f.proxies.map((p) => `${p.name} ${p.listen} ${p.upstream} ${p.profile ?? "-"}`), ["pg 127.0.0.1:0 127.0.0.1:5433 4g", "redis 127.0.0.1:16379 127.0.0.1:6379 -", "mq 127.0.0.1:0 127.0.0.1:5672 -"]);
  assert.equal(f.labels.env, "prod");
  assert.equal(f.labels.service, "orders");
  assert.equal(f.logLevel, "warn");
  assert.equal(f.insecure, true);
  assert.deepEqual(f.allowOrigins, ["https://dash.example.com", "http://x"]);
  assert.equal((await loadAgentConfig(flags({ config: cfg, linkWriteBudget: "0" }))).linkWriteBudget, 0);
  assert.equal((await loadAgentConfig(flags())).linkWriteBudget, 2000, "the default budget");
});

test("a world-readable token file is refused with a clear message", async () => {
  const p = file("open-token", "abc", 0o644);
  await assert.rejects(loadAgentConfig(flags({ tokenFile: p })), (err: Error) => err instanceof ConfigError && err.message.includes(p) && /readable by everyone/.test(err.message) && /chmod 600/.test(err.message));
  const empty = file("empty-token", "  \n");
  await assert.rejects(loadAgentConfig(flags({ tokenFile: empty })), /empty/);
  await assert.rejects(loadAgentConfig(flags({ tokenFile: join(dir, "missing") })), /missing.*ENOENT/);
});

test("every bad field is named with its file and value, all at once", async () => {
  const cfg = file(
    "bad.yaml",
    `control: nowhere
labels: [a, b]
proxies:
  - {name: "bad name", listen: "0.0.0.0:99999", upstream: x}
  - {name: ok, listen: "127.0.0.1:1", upstream: "127.0.0.1:2", maxConnections: -1, colour: red}
logLevel: loud
maxControlConnections: 0
linkWriteBudget: lots
tls: {cert: only.pem}
surprise: 1
`,
  );
  const err = (await loadAgentConfig(flags({ config: cfg })).catch((e: unknown) => e)) as ConfigError;
  assert.ok(err instanceof ConfigError, String(err));
  const text = err.message;
  for (const needle of [
    `${cfg}: control`,
    '"nowhere"',
    `${cfg}: labels`,
    "proxies[0].name",
    '"bad name"',
    "proxies[0].listen",
    "99999",
    "proxies[0].upstream",
    "proxies[1].maxConnections",
    "proxies[1].colour",
    "logLevel",
    '"loud"',
    "maxControlConnections",
    `${cfg}: linkWriteBudget`,
    '"lots"',
    "tls.key",
    "surprise",
  ])
    assert.ok(text.includes(needle), `the message names ${needle}:\n${text}`);
});

test("bad flags and unreadable files are named", async () => {
  await assert.rejects(loadAgentConfig(flags({ proxy: ["pg:1234"] })), /--proxy expects NAME=LISTEN,UPSTREAM.*"pg:1234"/);
  await assert.rejects(loadAgentConfig(flags({ proxy: ["pg=127.0.0.1:1,upstream"] })), /--proxy.*upstream/);
  await assert.rejects(loadAgentConfig(flags({ label: ["novalue"] })), /--label expects KEY=VALUE.*"novalue"/);
  await assert.rejects(loadAgentConfig(flags({ control: "x" })), /--control/);
  await assert.rejects(loadAgentConfig(flags({ config: join(dir, "nope.yaml") })), /nope\.yaml.*ENOENT/);
  await assert.rejects(loadAgentConfig(flags({ config: file("broken.yaml", "proxies: [\n") })), /broken\.yaml: not valid YAML/);
  await assert.rejects(loadAgentConfig(flags({ tlsCert: file("c.pem", "C") })), /both a certificate and a key/);
  await assert.rejects(loadAgentConfig(flags({ linkWriteBudget: "-5" })), /--link-write-budget: expected a whole number.*"-5"/);
  await assert.rejects(loadAgentConfig(flags({ linkWriteBudget: "" })), /--link-write-budget.*""/);
});

test("udp and dns proxies: protocol, udpIdle and udpMaxFlows in agent.yaml and --proxy; bad values named", async () => {
  const cfg = file(
    "udp.yaml",
    `proxies:
  - {name: dns, listen: "127.0.0.1:15353", upstream: "127.0.0.1:53", protocol: dns, udpIdle: 30s, udpMaxFlows: 256}
  - {name: metrics, listen: "127.0.0.1:18125", upstream: "127.0.0.1:8125", protocol: udp}
`,
  );
  const c = await loadAgentConfig(flags({ config: cfg, proxy: ["syslog=127.0.0.1:1514,127.0.0.1:514,udp"] }));
  const byName = Object.fromEntries(c.proxies.map((p) => [p.name, p]));
  assert.equal(byName.dns!.protocol, "dns");
  assert.equal(byName.dns!.udpIdleMs, 30_000);
  assert.equal(byName.dns!.udpMaxFlows, 256);
  assert.equal(byName.metrics!.protocol, "udp");
  assert.equal(byName.syslog!.protocol, "udp");
  const bad = file("udp-bad.yaml", `proxies:\n  - {name: d, listen: "127.0.0.1:1", upstream: "127.0.0.1:2", protocol: dns, udpIdle: soon, udpMaxFlows: 0}\n`);
  const err = (await loadAgentConfig(flags({ config: bad })).catch((e: unknown) => e)) as ConfigError;
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.message, /proxies\[0\]\.udpIdle/);
  assert.match(err.message, /proxies\[0\]\.udpMaxFlows/);
});
