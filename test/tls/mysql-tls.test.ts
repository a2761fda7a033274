// MySQL / MariaDB over TLS on either side of a mysql proxy (the CLI agent). Client side: the
// agent sets CLIENT_SSL in the server's greeting, takes the client's SSLRequest and terminates
// TLS in front of the local plaintext MariaDB (127.0.0.1:3306); mysql2 (ssl {ca}) and the
// MariaDB CLI (--ssl-ca, --ssl-verify-server-cert) verify the agent's certificate and feel a
// 1213 rule (the server rolled the transaction back: its rows are absent); a client that does
// not trust the CA gets a certificate error. Upstream side: a second mariadbd started here with
// TLS (certificates made here, a REQUIRE X509 user, an ed25519 user whose auth switch passes the
// renumbered connection phase), reached through the agent's own SSLRequest: the server's
// Ssl_cipher is set, a rule acts, a client certificate is presented when given; a wrong CA, a
// wrong name, an expired certificate and a server without TLS are refused, the client told why.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import { MARIADB, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";
import { runCli } from "../support/cli.js";
import { createCa, issue, type KeyedCertificate } from "../../src/tls/certificates.js";
import { freePort } from "../support/net.js";

const run = promisify(execFile);
const HOUR = 3600_000;
const table = `wave3b_mysqltls_${process.pid}_${randomBytes(3).toString("hex")}`;
const DB = "wave3b_mysqltls";
const DEADLOCK = [{ match: { query: "'boom'" }, fail: { errno: 1213 } }];


/** The MariaDB CLI; resolves with what it printed, or what it said when it failed. */
async function cli(args: string[]): Promise<{ ok: boolean; out: string }> {
  return run("mysql", ["--no-defaults", "-h", "127.0.0.1", "--batch", "--skip-column-names", ...args], { timeout: 20_000 }).then(
    (r) => ({ ok: true, out: r.stdout }),
    (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
  );
}

interface MysqlError {
  errno?: number;
  code?: string;
  message: string;
}

function failure(p: Promise<unknown>): Promise<MysqlError | null> {
  return p.then(
    () => null,
    (e: MysqlError) => e,
  );
}

describe("mysql over TLS (CLI agent, a second mariadbd with TLS)", () => {
  let dir: string;
  let agent: CliAgent;
  let ca: KeyedCertificate;
  let otherCa: KeyedCertificate;
  let agentCa: string;
  let server: ChildProcess;
  let serverPort: number;
  let serverExited = false;
  let admin: mysql.Connection;
  let tlsAdmin: mysql.Connection;
  const conns: mysql.Connection[] = [];

  async function connect(proxy: string, opts: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
    const c = await mysql.createConnection({ host: "127.0.0.1", port: agent.port(proxy), user: "root", connectTimeout: 10_000, ...opts });
    c.on("error", () => {});
    conns.push(c);
    return c;
  }

  async function tlsFailures(name: string): Promise<{ client: number; upstream: number }> {
    return (await agent.proxies()).find((x) => x.name === name)!.stats.tlsFailures;
  }

  async function logged(pattern: RegExp): Promise<string> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const line = agent.stderr().split("\n").find((l) => pattern.test(l));
      if (line !== undefined || Date.now() > deadline) return line ?? "";
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function serverCipher(c: mysql.Connection): Promise<string> {
    const [rows] = await c.query<mysql.RowDataPacket[]>("SHOW STATUS LIKE 'Ssl_cipher'");
    return String(rows[0]?.Value ?? "");
  }

  before(async () => {
    await requireService(MARIADB);
    dir = await mkdtemp(join(tmpdir(), "netimpair-tls-my-"));
    const now = Date.now();
    ca = createCa("test mariadb CA", new Date(now - HOUR), new Date(now + 24 * HOUR));
    otherCa = createCa("some other CA", new Date(now - HOUR), new Date(now + 24 * HOUR));
    const leaf = issue(ca, { names: ["localhost", "127.0.0.1"], notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) });
    const old = issue(ca, { names: ["localhost", "127.0.0.1"], notBefore: new Date(now - 48 * HOUR), notAfter: new Date(now - 24 * HOUR) });
    const clientCert = issue(ca, { names: ["netimpair-agent"], usage: "client", notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) });
    const files: Record<string, string> = {
      "ca.pem": ca.cert,
      "other-ca.pem": otherCa.cert,
      "server.pem": leaf.cert,
      "server-key.pem": leaf.key,
      "good.pem": leaf.cert,
      "good-key.pem": leaf.key,
      "expired.pem": old.cert,
      "expired-key.pem": old.key,
      "client.pem": clientCert.cert,
      "client-key.pem": clientCert.key,
    };
    for (const [name, pem] of Object.entries(files)) await writeFile(join(dir, name), pem, { mode: 0o600 });

    // the second server: its own datadir, a free port, a socket in the folder, TLS
    const data = join(dir, "data");
    const asRoot = process.getuid?.() === 0 ? ["--user=root"] : [];
    await run("mariadb-install-db", ["--no-defaults", `--datadir=${data}`, ...asRoot, "--auth-root-authentication-method=normal", "--skip-test-db"], { timeout: 60_000 });
    serverPort = await freePort();
    const socket = join(dir, "mysqld.sock");
    server = spawn(
      "/usr/sbin/mariadbd",
      [
        "--no-defaults",
        `--datadir=${data}`,
        ...asRoot,
        `--port=${serverPort}`,
        "--bind-address=127.0.0.1",
        `--socket=${socket}`,
        `--pid-file=${join(dir, "mysqld.pid")}`,
        `--log-error=${join(dir, "error.log")}`,
        `--ssl-cert=${join(dir, "server.pem")}`,
        `--ssl-key=${join(dir, "server-key.pem")}`,
        `--ssl-ca=${join(dir, "ca.pem")}`,
        "--skip-log-bin",
        "--innodb-buffer-pool-size=16M",
        "--innodb-log-file-size=16M",
        "--skip-name-resolve",
      ],
      { stdio: "ignore" },
    );
    server.on("exit", () => (serverExited = true));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const c = await mysql.createConnection({ socketPath: socket, user: "root" }).catch(() => null);
      if (c !== null) {
        tlsAdmin = c;
        break;
      }
      if (serverExited || Date.now() > deadline) throw new Error(`mariadbd did not start: ${await readFile(join(dir, "error.log"), "utf8").catch(() => "")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const sql of [
      "INSTALL SONAME 'auth_ed25519'",
      "CREATE USER ed@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('ed-secret')",
      "CREATE USER nat@'127.0.0.1' IDENTIFIED BY 'nat-secret'",
      "CREATE USER x5@'127.0.0.1' REQUIRE X509",
      `CREATE DATABASE ${DB}`,
      `CREATE TABLE ${DB}.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB`,
      `GRANT ALL ON ${DB}.* TO nat@'127.0.0.1', x5@'127.0.0.1', ed@'127.0.0.1'`,
    ])
      await tlsAdmin.query(sql);

    const tlsServer = `127.0.0.1:${serverPort}`;
    const caFile = join(dir, "ca.pem");
    agent = await startCliAgent(
      [
        `cl=127.0.0.1:0,${serviceAddress(MARIADB)},mysql`,
        `up=127.0.0.1:0,${tlsServer},mysql`,
        `both=127.0.0.1:0,${tlsServer},mysql`,
        `mtls=127.0.0.1:0,${tlsServer},mysql`,
        `clplain=127.0.0.1:0,${tlsServer},mysql`,
        `wrongca=127.0.0.1:0,${tlsServer},mysql`,
        `wrongname=127.0.0.1:0,${tlsServer},mysql`,
        `notls=127.0.0.1:0,${serviceAddress(MARIADB)},mysql`,
      ],
      [
        "--proxy-tls", "cl=client:auto",
        "--proxy-tls", `up=upstream.ca:${caFile}`,
        "--proxy-tls", `both=client:auto,upstream.ca:${caFile}`,
        "--proxy-tls", `mtls=upstream.ca:${caFile},upstream.cert:${join(dir, "client.pem")},upstream.key:${join(dir, "client-key.pem")}`,
        "--proxy-tls", "clplain=client:auto",
        "--proxy-tls", `wrongca=upstream.ca:${join(dir, "other-ca.pem")}`,
        "--proxy-tls", `wrongname=upstream.ca:${caFile},upstream.servername:db.example.test`,
        "--proxy-tls", `notls=upstream.ca:${caFile}`,
        "--state-dir", join(dir, "state"),
        "--log-level", "info",
      ],
    );
    agentCa = join(dir, "agent-ca.pem");
    const out = await runCli(["ca", "--out", agentCa, "--agent", agent.url]);
    assert.equal(out.code, 0, out.stderr);
    admin = await mysql.createConnection({ host: MARIADB.host, port: MARIADB.port, user: "root", database: "test" });
    await admin.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB`);
  });

  after(async () => {
    for (const c of conns) await c.end().catch(() => undefined);
    await admin?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await admin?.end().catch(() => undefined);
    await agent?.close();
    if (tlsAdmin !== undefined) await tlsAdmin.query("SHUTDOWN").catch(() => undefined);
    await tlsAdmin?.end().catch(() => undefined);
    if (server !== undefined && !serverExited) {
      const exited = new Promise((r) => server.once("exit", r));
      const timer = setTimeout(() => server.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function rows(c: mysql.Connection, sql: string): Promise<number> {
    const [r] = await c.query<mysql.RowDataPacket[]>(sql);
    return Number(r[0]?.n);
  }

  test("client side: mysql2 with ssl {ca} is encrypted to the agent, gets 1213, the server rolled the transaction back", async () => {
    const ca = await readFile(agentCa, "utf8");
    const c = await connect("cl", { database: "test", ssl: { ca } });
    const stream = (c as unknown as { connection: { stream: { encrypted?: boolean; getProtocol?: () => string | null } } }).connection.stream;
    assert.equal(stream.encrypted, true, "mysql2 switched to TLS");
    assert.match(String(stream.getProtocol?.()), /^TLSv1\.[23]$/);
    assert.equal(await serverCipher(c), "", "the upstream side stays plaintext");
    await agent.ctl.apply("cl", undefined, { spec: { requests: DEADLOCK } });
    try {
      await c.query("BEGIN");
      await c.query(`INSERT INTO ${table} VALUES (1, 'kept?')`);
      const err = await failure(c.query(`INSERT INTO ${table} VALUES (2, 'boom')`));
      assert.equal(err?.errno, 1213, `got ${err?.message}`);
      // InnoDB's deadlock rolls back the whole transaction: the first row is gone too
      assert.equal(await rows(admin, `SELECT count(*) AS n FROM ${table}`), 0);
      await c.query(`INSERT INTO ${table} VALUES (3, 'after')`);
      assert.equal(await rows(admin, `SELECT count(*) AS n FROM ${table} WHERE id = 3`), 1, "a non-matching statement passes (autocommit)");
    } finally {
      await agent.ctl.clear("cl");
      await admin.query(`DELETE FROM ${table}`);
    }
  });

  test("client side over a link: the greeting and the TLS handshake take their trips on it, as through a real path", async () => {
    const ca = await readFile(agentCa, "utf8");
    await agent.ctl.apply("cl", undefined, { spec: { up: { delay: "150ms" }, down: { delay: "150ms" } } });
    try {
      const started = performance.now();
      const c = await connect("cl", { database: "test", ssl: { ca } });
      await c.query("SELECT 1");
      const ms = performance.now() - started;
      // a real 300 ms path: greeting down (150), SSLRequest and ClientHello up, the server's
      // flight down (300), Finished and the handshake response up, OK down (300), the query's
      // round trip (300): 1050 ms. Had the greeting and handshake crossed no link: 600 ms
      assert.ok(ms >= 1000, `connect and SELECT 1 took ${ms.toFixed(0)} ms over a 300 ms round trip`);
      assert.ok(ms < 6000, `connect and SELECT 1 took ${ms.toFixed(0)} ms`);
      c.destroy();
    } finally {
      await agent.ctl.clear("cl");
    }
  });

  test("client side: the MariaDB CLI with --ssl-ca --ssl-verify-server-cert gets ERROR 1213; without the CA, a certificate error", async () => {
    const port = String(agent.port("cl"));
    const verified = ["-P", port, "-u", "root", "--ssl", `--ssl-ca=${agentCa}`, "--ssl-verify-server-cert", "test"];
    const status = await cli([...verified, "-e", "\\s"]);
    assert.ok(status.ok, status.out);
    assert.match(status.out, /SSL:\s+Cipher in use is \S+/);
    await agent.ctl.apply("cl", undefined, { spec: { requests: DEADLOCK } });
    try {
      const failed = await cli([...verified, "-e", `INSERT INTO ${table} VALUES (5, 'boom')`]);
      assert.equal(failed.ok, false);
      assert.match(failed.out, /ERROR 1213 \(40001\).*Deadlock found/);
      assert.equal(await rows(admin, `SELECT count(*) AS n FROM ${table}`), 0);
      const passed = await cli([...verified, "-e", `SELECT 'through'`]);
      assert.equal(passed.out.trim(), "through");
    } finally {
      await agent.ctl.clear("cl");
    }
    const before = (await tlsFailures("cl")).client;
    const untrusted = await cli(["-P", port, "-u", "root", "--ssl", `--ssl-ca=${join(dir, "other-ca.pem")}`, "--ssl-verify-server-cert", "test", "-e", "SELECT 1"]);
    assert.equal(untrusted.ok, false);
    assert.match(untrusted.out, /ERROR 2026 .*TLS\/SSL error: .*(certificate|issuer)/i);
    const deadline = Date.now() + 5000;
    while ((await tlsFailures("cl")).client === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await tlsFailures("cl")).client, before + 1, "counted in stats.tlsFailures.client");
    assert.match(await logged(/proxy cl: client side TLS failed: the client refused the agent's certificate/), /TLS alert unknown ca/);
  });

  test("client side: mysql2 that does not trust the CA fails on the certificate, nothing passes; a client that does not ask for TLS goes on in plaintext", async () => {
    const err = await failure(connect("cl", { database: "test", ssl: { ca: otherCa.cert } }));
    assert.ok(err !== null, "the connection must fail");
    assert.match(`${err.code} ${err.message}`, /certificate|UNABLE_TO_VERIFY|SELF_SIGNED/i);
    // the same policy as a postgres proxy: a plaintext client passes (and rules act)
    const plain = await connect("cl", { database: "test" });
    assert.notEqual((plain as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted, true);
    await agent.ctl.apply("cl", undefined, { spec: { requests: DEADLOCK } });
    try {
      assert.equal((await failure(plain.query(`INSERT INTO ${table} VALUES (6, 'boom')`)))?.errno, 1213);
    } finally {
      await agent.ctl.clear("cl");
    }
  });

  test("upstream side: a plaintext client reaches the TLS server (Ssl_cipher set there), a rule acts, password and ed25519 auth pass renumbered", async () => {
    const c = await connect("up", { user: "nat", password: "nat-secret", database: DB });
    assert.match(await serverCipher(c), /^TLS_|^ECDHE|AES/);
    await agent.ctl.apply("up", undefined, { spec: { requests: DEADLOCK } });
    try {
      await c.query("BEGIN");
      await c.query(`INSERT INTO t VALUES (1, 'kept?')`);
      assert.equal((await failure(c.query(`INSERT INTO t VALUES (2, 'boom')`)))?.errno, 1213);
      assert.equal(await rows(tlsAdmin, `SELECT count(*) AS n FROM ${DB}.t`), 0);
    } finally {
      await agent.ctl.clear("up");
    }
    // ed25519: the server's auth switch and the client's signature, one sequence id apart on each side
    const ed = await cli(["-P", String(agent.port("up")), "-u", "ed", "-ped-secret", "--skip-ssl", DB, "-e", "SELECT current_user(), VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_CIPHER'"]);
    assert.ok(ed.ok, ed.out);
    assert.match(ed.out, /^ed@127\.0\.0\.1\t\S+/);
    // a TLS client in front of the plaintext side of the same server: renumbered the other way
    const back = await cli(["-P", String(agent.port("clplain")), "-u", "ed", "-ped-secret", "--ssl", `--ssl-ca=${agentCa}`, "--ssl-verify-server-cert", DB, "-e", "\\s"]);
    assert.ok(back.ok, back.out);
    assert.match(back.out, /Current user:\s+ed@127\.0\.0\.1/);
    assert.match(back.out, /SSL:\s+Cipher in use is \S+/);
  });

  test("upstream side mTLS: a REQUIRE X509 user connects only when the agent presents a client certificate", async () => {
    const withCert = await connect("mtls", { user: "x5", database: DB });
    const [r] = await withCert.query<mysql.RowDataPacket[]>("SELECT current_user() AS u");
    assert.equal(r[0]?.u, "x5@127.0.0.1");
    assert.notEqual(await serverCipher(withCert), "");
    const without = await failure(connect("up", { user: "x5", database: DB }));
    assert.equal(without?.errno, 1045, `got ${without?.message}`);
  });

  async function refused(name: string, reason: RegExp): Promise<void> {
    const before = (await tlsFailures(name)).upstream;
    const err = await failure(connect(name, { database: name === "notls" ? "test" : DB }));
    assert.ok(err !== null, `${name}: the client's connection must fail`);
    // the client is told (ERR 1043) naming the proxy, the side and the reason
    assert.equal(err.errno, 1043, `${name}: ${err.message}`);
    assert.match(err.message, new RegExp(`^proxy ${name}: upstream side TLS failed: `));
    assert.match(err.message, reason);
    const deadline = Date.now() + 5000;
    while ((await tlsFailures(name)).upstream === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await tlsFailures(name)).upstream, before + 1, `${name}: counted in stats.tlsFailures.upstream`);
    assert.match(await logged(new RegExp(`proxy ${name}: upstream side TLS failed: `)), reason);
  }

  test("upstream side: a wrong CA, a wrong name and a server without TLS are refused, the client told why", async () => {
    await refused("wrongca", /not signed by a trusted CA/);
    await refused("wrongname", /not for db\.example\.test/);
    await refused("notls", /does not offer TLS \(no CLIENT_SSL in its greeting\)/);
  });

  test("upstream side: an expired server certificate is refused", async () => {
    await copyFile(join(dir, "expired.pem"), join(dir, "server.pem"));
    await copyFile(join(dir, "expired-key.pem"), join(dir, "server-key.pem"));
    await tlsAdmin.query("FLUSH SSL");
    try {
      await refused("up", /has expired \(CERT_HAS_EXPIRED\)/);
    } finally {
      await copyFile(join(dir, "good.pem"), join(dir, "server.pem"));
      await copyFile(join(dir, "good-key.pem"), join(dir, "server-key.pem"));
      await tlsAdmin.query("FLUSH SSL");
    }
    const c = await connect("up", { user: "nat", password: "nat-secret", database: DB });
    assert.notEqual(await serverCipher(c), "", "the good certificate is back");
  });

  test("both sides TLS: mysql2 verifies the agent, the server sees TLS from the agent, 1213 acts", async () => {
    const ca = await readFile(agentCa, "utf8");
    const c = await connect("both", { user: "nat", password: "nat-secret", database: DB, ssl: { ca } });
    assert.equal((c as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted, true);
    assert.notEqual(await serverCipher(c), "");
    await agent.ctl.apply("both", undefined, { spec: { requests: DEADLOCK } });
    try {
      await c.query("BEGIN");
      await c.query(`INSERT INTO t VALUES (11, 'kept?')`);
      assert.equal((await failure(c.query(`INSERT INTO t VALUES (12, 'boom')`)))?.errno, 1213);
      assert.equal(await rows(tlsAdmin, `SELECT count(*) AS n FROM ${DB}.t`), 0);
      await c.query(`INSERT INTO t VALUES (13, 'after')`);
      assert.equal(await rows(tlsAdmin, `SELECT count(*) AS n FROM ${DB}.t WHERE id = 13`), 1);
    } finally {
      await agent.ctl.clear("both");
    }
    const ed = await cli(["-P", String(agent.port("both")), "-u", "ed", "-ped-secret", "--ssl", `--ssl-ca=${agentCa}`, "--ssl-verify-server-cert", DB, "-e", "SELECT current_user()"]);
    assert.ok(ed.ok, ed.out);
    assert.equal(ed.out.trim(), "ed@127.0.0.1");
  });
});
