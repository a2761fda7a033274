// `netimpair conns` lists live connections (the ids `reset --conn` takes, what impairs each,
// the protocol), `status --json` carries them, and `status` shows `--set` overrides (item 8).
// A real agent process, real client sockets, a real Redis behind a redis proxy.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { startCliAgent, type CliAgent } from "../support/cli-agent.js";
import { runCli } from "../support/cli.js";
import { dial, echoServer, endOf, readBytes, roundTrip, sleep, type Peer } from "../support/net.js";
import { REDIS, requireService, serviceAddress } from "../support/services.js";

interface ConnRow {
  id: string;
  proxy: string;
  client: string;
  openedAt: string;
  bytesUp: number;
  bytesDown: number;
  impaired: boolean;
  protocol: string;
  requestFaults?: string[];
}

let echo: Peer;
let agent: CliAgent;
let at: string[];

before(async () => {
  await requireService(REDIS);
  echo = await echoServer();
  agent = await startCliAgent(["--proxy", `pg=127.0.0.1:0,${echo.address}`, "--proxy", `cache=127.0.0.1:0,${serviceAddress(REDIS)}`]);
  at = ["--agent", agent.url];
  // the redis proxy carries redis, so request faults apply to it
  const u = await runCli([...at, "proxy", "update", "cache", "--protocol", "redis"]);
  assert.equal(u.code, 0, u.stderr);
  // it prints the proxy with its protocol, as proxy add does
  assert.match(u.stdout, /^cache: 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:6379 \[redis\]$/m);
});

after(async () => {
  await agent.stop();
  await echo.close();
});

async function portOf(name: string): Promise<number> {
  const r = await runCli([...at, "--json", "proxy", "ls"]);
  assert.equal(r.code, 0, r.stderr);
  const p = (JSON.parse(r.stdout) as { name: string; listen: string }[]).find((x) => x.name === name);
  assert.ok(p, `proxy ${name}`);
  return Number(p.listen.slice(p.listen.lastIndexOf(":") + 1));
}

async function conns(...args: string[]): Promise<ConnRow[]> {
  const r = await runCli([...at, "--json", "conns", ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ConnRow[];
}

function clientOf(s: Socket): string {
  return `${s.localAddress}:${s.localPort}`;
}

test("conns lists each live connection with its id, proxy, client, bytes, impairment and protocol; reset --conn takes the id", async () => {
  const port = await portOf("pg");
  const a = await dial(port);
  const b = await dial(port);
  try {
    await roundTrip(a, 100);
    await roundTrip(b, 10);
    const rows = (await conns("--proxy", "pg")).sort((x, y) => x.bytesUp - y.bytesUp);
    assert.equal(rows.length, 2);
    assert.deepEqual(
      rows.map((r) => [r.proxy, r.client, r.bytesUp, r.bytesDown, r.impaired, r.protocol]),
      [
        ["pg", clientOf(b), 10, 10, false, "tcp"],
        ["pg", clientOf(a), 100, 100, false, "tcp"],
      ],
    );
    const [idB, idA] = [rows[0]!.id, rows[1]!.id];

    // the table: the columns, one row per connection, what impairs it once a profile is applied
    assert.equal((await runCli([...at, "apply", "3g", "--proxy", "pg"])).code, 0);
    const t = await runCli([...at, "conns"]);
    assert.equal(t.code, 0, t.stderr);
    const lines = t.stdout.trim().split("\n");
    assert.match(lines[0]!, /^ID\s+PROXY\s+CLIENT\s+AGE\s+UP\s+DOWN\s+IMPAIRED\s+PROTOCOL$/);
    const rowA = lines.find((l) => l.includes(clientOf(a)));
    assert.ok(rowA, t.stdout);
    assert.match(rowA, new RegExp(`^${idA}\\s+pg\\s+${clientOf(a).replace(/\./g, "\\.")}\\s+\\d+s\\s+100B\\s+100B\\s+3g\\s+tcp$`));

    // status --json carries the same connections under their proxy
    const st = await runCli([...at, "--json", "status"]);
    assert.equal(st.code, 0, st.stderr);
    const pg = (JSON.parse(st.stdout) as { name: string; connections?: { id: string; client: string }[] }[]).find((p) => p.name === "pg");
    assert.deepEqual(pg?.connections?.map((c) => c.id).sort(), [idA, idB].sort());

    // the id from conns is the one reset --conn takes: only that connection is reset
    const endA = endOf(a);
    const rs = await runCli([...at, "reset", "--proxy", "pg", "--conn", idA]);
    assert.equal(rs.code, 0, rs.stderr);
    assert.equal(rs.stdout.trim(), "pg: reset 1 connection");
    assert.equal(await endA, "reset");
    await sleep(50);
    assert.deepEqual((await conns("--proxy", "pg")).map((r) => r.id), [idB]);
  } finally {
    a.destroy();
    b.destroy();
    await runCli([...at, "clear"]);
  }
});

test("conns shows the request faults injected on a connection of a protocol proxy", async () => {
  const port = await portOf("cache");
  const rule = '{match: {command: GET, key: "cli18conns:*"}, fail: {error: ERR, message: injected by the test}}';
  const ap = await runCli([...at, "apply", "clean", "--proxy", "cache", "--request", rule]);
  assert.equal(ap.code, 0, ap.stderr);
  // the rule shows wherever the impairment does: the apply line and status
  assert.match(ap.stdout, /^cache: applied clean with 1 request rule$/m);
  const st = await runCli([...at, "status"]);
  assert.match(st.stdout.split("\n").find((l) => /\bcache\b/.test(l)) ?? "", /\bclean \(1 request rule\)/, st.stdout);
  const s = await dial(port);
  try {
    const reply = readBytes(s, "-ERR injected by the test\r\n".length, 5000);
    s.write("*2\r\n$3\r\nGET\r\n$14\r\ncli18conns:key\r\n");
    assert.equal((await reply).toString(), "-ERR injected by the test\r\n");
    const rows = await conns("--proxy", "cache");
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.protocol, "redis");
    assert.deepEqual(rows[0]!.requestFaults, ["failed"]);
    const t = await runCli([...at, "conns", "--proxy", "cache"]);
    assert.equal(t.code, 0, t.stderr);
    const row = t.stdout.split("\n").find((l) => l.includes(clientOf(s)));
    assert.ok(row, t.stdout);
    assert.match(row, /\bclean \+ requests: 1 failed\s+redis$/);
  } finally {
    s.destroy();
    await runCli([...at, "clear"]);
  }
});

test("conns with no connections says so; an unknown --proxy is reported (exit 1)", async () => {
  const empty = await runCli([...at, "conns", "--proxy", "pg"]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout.trim(), "no connections");
  const nope = await runCli([...at, "conns", "--proxy", "nope"]);
  assert.equal(nope.code, 1);
  assert.match(nope.stderr, /proxy "nope" not found/);
});

test("item 8 still holds: status shows the --set overrides of an apply", async () => {
  const ap = await runCli([...at, "apply", "clean", "--proxy", "pg", "--set", "down.delay=30ms", "--set", "reset.after=20s"]);
  assert.equal(ap.code, 0, ap.stderr);
  assert.equal(ap.stdout.trim(), "pg: applied clean with down.delay=30ms, reset.after=20s");
  try {
    const st = await runCli([...at, "status"]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /\bpg\b.*clean \(set down\.delay=30ms, reset\.after=20s\)/);
  } finally {
    await runCli([...at, "clear"]);
  }
});
