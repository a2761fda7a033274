// A redis proxy with tls.client auto in front of the plaintext Redis on 6379: ioredis and
// redis-cli speak TLS to the agent and verify its certificate with the agent's CA (fetched with
// `netimpair ca`), and a request rule acts through it. What the server holds is checked after.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { Redis, ReplyError } from "ioredis";
import { REDIS, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";
import { runCli } from "../support/cli.js";

const run = promisify(execFile);
const prefix = `t_tlsrd_${process.pid}_${randomBytes(3).toString("hex")}:`;

/** Opens a TLS connection verifying `ca`, sends PINGs one at a time; ms from the connect to each +PONG. */
async function pings(port: number, ca: string, count: number, onConnecting?: () => void): Promise<number[]> {
  const started = performance.now();
  const socket: TLSSocket = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" });
  onConnecting?.();
  const times: number[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let buffered = "";
      socket.once("error", reject);
      socket.once("secureConnect", () => socket.write("PING\r\n"));
      socket.on("data", (d: Buffer) => {
        buffered += d.toString("latin1");
        while (buffered.startsWith("+PONG\r\n")) {
          buffered = buffered.slice(7);
          times.push(performance.now() - started);
          if (times.length === count) return resolve();
          socket.write("PING\r\n");
        }
      });
    });
  } finally {
    socket.destroy();
  }
  return times;
}

describe("redis over TLS (tls.client auto, CLI agent)", () => {
  let agent: CliAgent;
  let admin: Redis;
  let dir: string;
  let caFile: string;
  const clients: Redis[] = [];

  function client(ca: string): Redis {
    const c = new Redis({ host: "127.0.0.1", port: agent.port("rd"), tls: { ca }, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    c.on("error", () => {});
    clients.push(c);
    return c;
  }

  before(async () => {
    await requireService(REDIS);
    dir = await mkdtemp(join(tmpdir(), "netimpair-tls-redis-"));
    agent = await startCliAgent([`rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`], ["--proxy-tls", "rd=client:auto", "--state-dir", join(dir, "state"), "--log-level", "info"]);
    caFile = join(dir, "ca.pem");
    const out = await runCli(["ca", "--out", caFile, "--agent", agent.url]);
    assert.equal(out.code, 0, out.stderr);
    admin = new Redis({ host: REDIS.host, port: REDIS.port });
    admin.on("error", () => {});
  });

  after(async () => {
    const keys = (await admin?.keys(`${prefix}*`)) ?? [];
    if (keys.length) await admin.del(...keys);
    admin?.disconnect();
    for (const c of clients) c.disconnect();
    await agent?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("status shows the proxy's tls; ioredis verifying the agent's CA gets OOM from a rule, nothing written; other keys pass", async () => {
    const [p] = await agent.proxies();
    assert.deepEqual(p!.tls, { client: "auto" });
    const ca = await readFile(caFile, "utf8");
    await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "SET", key: `${prefix}session:*` }, fail: { error: "OOM" } }] } });
    try {
      const c = client(ca);
      await c.connect();
      const err = await c.set(`${prefix}session:1`, "x").then(() => null, (e: unknown) => e);
      assert.ok(err instanceof ReplyError, `expected a ReplyError, got ${String(err)}`);
      assert.match((err as Error).message, /^OOM /);
      assert.equal(await admin.exists(`${prefix}session:1`), 0);
      assert.equal(await c.set(`${prefix}other`, "y"), "OK");
      assert.equal(await admin.get(`${prefix}other`), "y");
      const big = randomBytes(200_000).toString("base64");
      assert.equal(await c.set(`${prefix}big`, big), "OK");
      assert.equal(await c.get(`${prefix}big`), big);
    } finally {
      await agent.ctl.clear("rd");
    }
  });

  test("redis-cli --tls --cacert feels the rule too", async () => {
    await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "SET", key: `${prefix}cli:*` }, fail: { error: "OOM" } }] } });
    try {
      const base = ["-h", "127.0.0.1", "-p", String(agent.port("rd")), "--tls", "--cacert", caFile];
      const failed = await run("redis-cli", [...base, "SET", `${prefix}cli:1`, "v"]);
      assert.match(failed.stdout, /OOM command not allowed/);
      assert.equal(await admin.exists(`${prefix}cli:1`), 0);
      const ok = await run("redis-cli", [...base, "SET", `${prefix}plain`, "v"]);
      assert.match(ok.stdout, /OK/);
    } finally {
      await agent.ctl.clear("rd");
    }
  });

  test("a client that does not trust the agent's CA gets a certificate error, and the agent logs and counts it", async () => {
    const c = new Redis({ host: "127.0.0.1", port: agent.port("rd"), tls: {}, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    const seen: NodeJS.ErrnoException[] = [];
    c.on("error", (e: NodeJS.ErrnoException) => seen.push(e));
    clients.push(c);
    const err = await c.connect().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof Error, "the connection must fail");
    // ioredis rejects connect() with "Connection is closed."; the TLS error comes as its 'error' event
    assert.ok(seen.some((e) => /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(String(e.code))), `a certificate error, got ${seen.map((e) => e.code ?? e.message).join(", ")}`);
    // node verifies after the handshake (TLS 1.3: the agent's side is done by then); redis-cli
    // (OpenSSL) verifies inside it and sends an alert, which the agent sees, logs and counts
    const refused = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(agent.port("rd")), "--tls", "PING"]).then(
      (r) => r.stdout + r.stderr,
      (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}`,
    );
    assert.match(refused, /certificate verify failed/);
    const deadline = Date.now() + 5000;
    let failures = 0;
    while (Date.now() < deadline && failures === 0) {
      failures = (await agent.proxies())[0]!.stats.tlsFailures.client;
      if (failures === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(failures >= 1, "the failed handshake is counted");
    const metrics = await (await fetch(agent.url.replace(/^ws/, "http").replace(/\/control$/, "/metrics"))).text();
    assert.match(metrics, /netimpair_tls_failures_total\{proxy="rd",side="client"\} [1-9]/);
    assert.match(agent.stderr(), /proxy rd: client side TLS failed: the client refused the agent's certificate/);
  });
  test("a client's handshake crosses the link: a new connection's first answer takes the handshake's round trip and the request's; a clear lets a held handshake go", async () => {
    const ca = await readFile(caFile, "utf8");
    const port = agent.port("rd");
    const clean = await pings(port, ca, 1);
    await agent.ctl.apply("rd", undefined, { spec: { up: { delay: "150ms" }, down: { delay: "150ms" } } });
    try {
      // TLS 1.3: one round trip (300 ms) for the handshake, one for the PING; then one per PING
      const [first, second] = await pings(port, ca, 2);
      assert.ok(first! >= 580, `the first PONG after ${first!.toFixed(0)} ms: the handshake's round trip is missing (clean: ${clean[0]!.toFixed(0)} ms)`);
      assert.ok(first! < 2000, `the first PONG after ${first!.toFixed(0)} ms`);
      assert.ok(second! - first! >= 290 && second! - first! < 1500, `the second PING took ${(second! - first!).toFixed(0)} ms, one round trip`);
      // 3 s each way: a handshake held 6 s; a clear 300 ms in lets it go at once
      await agent.ctl.apply("rd", undefined, { spec: { up: { delay: "3s" }, down: { delay: "3s" } } });
      let cleared: Promise<unknown> = Promise.resolve();
      const [held] = await pings(port, ca, 1, () => {
        cleared = new Promise((r) => setTimeout(r, 300)).then(() => agent.ctl.clear("rd"));
      });
      await cleared;
      assert.ok(held! < 2000, `a clear releases the handshake's hold: the PONG came after ${held!.toFixed(0)} ms`);
    } finally {
      await agent.ctl.clear("rd");
    }
  });
});
