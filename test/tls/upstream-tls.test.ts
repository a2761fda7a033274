// TLS towards the upstream, against real TLS servers this test starts with certificates it makes:
// a redis-server that speaks only TLS (--port 0) and requires client certificates, and a node
// TLS server whose certificate has expired. Proxies are made over the control channel with PEM
// text. A plaintext client reaches the TLS server through the agent (verified, with mTLS) and a
// rule acts; a wrong CA, a wrong name, an expired certificate and a missing client certificate
// are refused with a clear error naming the proxy, the side and the reason, logged and counted.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import { once } from "node:events";
import { Redis, ReplyError } from "ioredis";
import { createCa, issue, type KeyedCertificate } from "../../src/tls/certificates.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";
import { freePort } from "../support/net.js";

const HOUR = 3600_000;
const prefix = `t_tlsup_${process.pid}_${randomBytes(3).toString("hex")}:`;


/** Waits until a TCP port accepts. */
async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), r(true)));
      s.on("error", () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} never opened`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("upstream TLS (real TLS servers, certificates made by the test)", () => {
  let dir: string;
  let agent: CliAgent;
  let redis: ChildProcess;
  let redisPort: number;
  let expired: tls.Server;
  let ca: KeyedCertificate;
  let otherCa: KeyedCertificate;
  let clientCert: KeyedCertificate;
  const clients: Redis[] = [];
  let admin: Redis;

  function plain(proxy: string): Redis {
    const c = new Redis({ host: "127.0.0.1", port: agent.port(proxy), maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    c.on("error", () => {});
    clients.push(c);
    return c;
  }

  async function addProxy(name: string, upstream: string, tlsParam: unknown): Promise<void> {
    await agent.ctl.createProxy(name, "127.0.0.1:0", upstream, undefined, "redis", tlsParam as never);
    await agent.proxies();
  }

  async function failures(name: string): Promise<number> {
    const p = (await agent.proxies()).find((x) => x.name === name)!;
    return p.stats.tlsFailures.upstream;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "netimpair-tls-up-"));
    const now = Date.now();
    ca = createCa("test server CA", new Date(now - HOUR), new Date(now + 24 * HOUR));
    otherCa = createCa("some other CA", new Date(now - HOUR), new Date(now + 24 * HOUR));
    const server = issue(ca, { names: ["localhost", "127.0.0.1"], notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) });
    clientCert = issue(ca, { names: ["netimpair-agent"], usage: "client", notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) });
    await writeFile(join(dir, "ca.pem"), ca.cert);
    await writeFile(join(dir, "server.pem"), server.cert);
    await writeFile(join(dir, "server-key.pem"), server.key, { mode: 0o600 });
    redisPort = await freePort();
    // TLS only, client certificates required (tls-auth-clients yes is redis's default)
    redis = spawn("redis-server", ["--port", "0", "--tls-port", String(redisPort), "--bind", "127.0.0.1", "--tls-cert-file", join(dir, "server.pem"), "--tls-key-file", join(dir, "server-key.pem"), "--tls-ca-cert-file", join(dir, "ca.pem"), "--tls-auth-clients", "yes", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
    await waitForPort(redisPort);
    const old = issue(ca, { names: ["localhost", "127.0.0.1"], notBefore: new Date(now - 48 * HOUR), notAfter: new Date(now - 24 * HOUR) });
    expired = tls.createServer({ cert: old.cert, key: old.key }, (s) => s.end("+PONG\r\n"));
    expired.listen(0, "127.0.0.1");
    await once(expired, "listening");
    agent = await startCliAgent([], ["--state-dir", join(dir, "state"), "--log-level", "info"]);
    admin = new Redis({ host: "127.0.0.1", port: redisPort, tls: { ca: ca.cert, cert: clientCert.cert, key: clientCert.key }, lazyConnect: true });
    admin.on("error", () => {});
    await admin.connect();
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    admin?.disconnect();
    await agent?.close();
    redis?.kill("SIGTERM");
    expired?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("verified with mTLS: a plaintext client reaches a TLS-only redis through the agent, a rule acts, the server holds what passed", async () => {
    await addProxy("up", `127.0.0.1:${redisPort}`, { upstream: { ca: ca.cert, cert: clientCert.cert, key: clientCert.key } });
    const info = (await agent.proxies()).find((p) => p.name === "up")!;
    assert.deepEqual(info.tls, { upstream: { ca: "(PEM)", cert: "(PEM)", key: "(PEM)" } });
    const c = plain("up");
    await c.connect();
    assert.equal(await c.set(`${prefix}a`, "1"), "OK");
    // the server has no plaintext port: what it holds came over TLS, with the agent's client certificate
    assert.equal(await admin.get(`${prefix}a`), "1");
    assert.match(String(await admin.config("GET", "port")), /port,0/);
    await agent.ctl.apply("up", undefined, { spec: { requests: [{ match: { command: "SET", key: `${prefix}x*` }, fail: { error: "OOM" } }] } });
    try {
      const err = await c.set(`${prefix}x1`, "v").then(() => null, (e: unknown) => e);
      assert.ok(err instanceof ReplyError);
      assert.match((err as Error).message, /^OOM /);
      assert.equal(await admin.exists(`${prefix}x1`), 0);
    } finally {
      await agent.ctl.clear("up");
    }
    await admin.del(`${prefix}a`);
  });

  async function refused(name: string, upstream: string, tlsParam: unknown, reason: RegExp): Promise<void> {
    await addProxy(name, upstream, tlsParam);
    const c = plain(name);
    const err = await c.connect().then(() => c.ping()).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof Error, `${name}: the client's connection must end`);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await failures(name)) === 0) await new Promise((r) => setTimeout(r, 50));
    assert.ok((await failures(name)) >= 1, `${name}: counted in stats.tlsFailures.upstream`);
    const line = new RegExp(`proxy ${name}: upstream side TLS failed: `);
    let log = "";
    while (Date.now() < deadline + 5000 && log === "") {
      log = agent.stderr().split("\n").find((l) => line.test(l)) ?? "";
      if (log === "") await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(log, reason, `${name}: the log names the reason`);
  }

  test("a wrong CA is refused: not signed by a trusted CA", async () => {
    await refused("wrongca", `127.0.0.1:${redisPort}`, { upstream: { ca: otherCa.cert, cert: clientCert.cert, key: clientCert.key } }, /not signed by a trusted CA/);
  });

  test("a wrong name is refused: the certificate is not for that name", async () => {
    await refused("wrongname", `127.0.0.1:${redisPort}`, { upstream: { ca: ca.cert, servername: "db.example.test", cert: clientCert.cert, key: clientCert.key } }, /not for db\.example\.test/);
  });

  test("an expired certificate is refused; insecure lets it through (and says so)", async () => {
    const port = (expired.address() as net.AddressInfo).port;
    await refused("expired", `127.0.0.1:${port}`, { upstream: { ca: ca.cert } }, /has expired/);
    await agent.ctl.createProxy("lax", "127.0.0.1:0", `127.0.0.1:${port}`, undefined, "tcp", { upstream: "insecure" });
    await agent.proxies();
    const s = net.connect(agent.port("lax"), "127.0.0.1");
    const [data] = (await once(s, "data")) as [Buffer];
    assert.equal(data.toString(), "+PONG\r\n");
    s.destroy();
    assert.match(agent.stderr(), /upstream TLS is not verified/);
  });

  test("a server that requires a client certificate refuses the agent without one", async () => {
    await addProxy("nocert", `127.0.0.1:${redisPort}`, { upstream: { ca: ca.cert } });
    const c = plain("nocert");
    const err = await c.connect().then(() => c.ping()).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof Error, "redis drops a TLS client without a certificate");
    assert.equal(await admin.ping(), "PONG");
  });

  test("bad material is refused at create time, naming the proxy, the side and the field", async () => {
    const err = await agent.ctl.createProxy("bad", "127.0.0.1:0", `127.0.0.1:${redisPort}`, undefined, "redis", { upstream: { ca: "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", cert: clientCert.cert, key: otherCa.key } } as never).then(
      () => null,
      (e: unknown) => e as Error & { data?: { path: string; message: string }[] },
    );
    assert.ok(err !== null);
    const paths = (err.data ?? []).map((d) => `${d.path}: ${d.message}`).join("\n");
    assert.match(paths, /params\.tls\.upstream\.ca: proxy bad: upstream side: not a valid certificate/);
    assert.match(paths, /params\.tls\.upstream\.key: proxy bad: upstream side: the key does not belong to the certificate/);
    assert.ok(!(await agent.proxies()).some((p) => p.name === "bad"));
    // every protocol has its way to TLS now (mysql's: test/tls/mysql-tls.test.ts)
    await agent.ctl.createProxy("my", "127.0.0.1:0", "127.0.0.1:3306", undefined, "mysql", { client: "auto" });
    assert.deepEqual((await agent.proxies()).find((p) => p.name === "my")?.tls, { client: "auto" });
  });
});
