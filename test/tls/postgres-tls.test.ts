// postgres over TLS on both sides. Client side: the agent answers SSLRequest with S and
// terminates TLS; psql (sslmode=verify-full sslrootcert=ca.pem) and pg (ssl {ca}) verify the
// agent's certificate and a rule's 40001 reaches them; the table shows what the server did.
// Direct TLS (ALPN postgresql) is taken too. Upstream side: a second PostgreSQL cluster with
// ssl=on (initdb into a temp folder, run as user postgres, a free port) reached by a plaintext
// client through the agent, which sends its own SSLRequest: the server's pg_stat_ssl says the
// agent's connection is encrypted. A server that answers N is refused, never used in plaintext.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import tls from "node:tls";
import { once } from "node:events";
import pg from "pg";
import { POSTGRES, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";
import { runCli } from "../support/cli.js";
import { createCa, issue } from "../../src/tls/certificates.js";
import { freePort } from "../support/net.js";

const run = promisify(execFile);
const table = `t_tlspg_${process.pid}_${randomBytes(3).toString("hex")}`;
const HOUR = 3600_000;

function pgBin(name: string): string {
  const found = spawnSync("sh", ["-c", `ls -d /usr/lib/postgresql/*/bin/${name} | sort -V | tail -1`], { encoding: "utf8" }).stdout.trim();
  if (found === "") throw new Error(`${name} not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)`);
  return found;
}


describe("postgres over TLS (CLI agent)", () => {
  let agent: CliAgent;
  let admin: pg.Client;
  let dir: string;
  let caFile: string;
  let cluster: string;
  let clusterPort: number;
  const clients: pg.Client[] = [];

  async function client(port: number, opts: pg.ClientConfig = {}): Promise<pg.Client> {
    const c = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "test", ...opts });
    c.on("error", () => {});
    clients.push(c);
    await c.connect();
    return c;
  }

  before(async () => {
    await requireService(POSTGRES);
    dir = await mkdtemp(join(tmpdir(), "netimpair-tls-pg-"));
    // the second cluster: ssl = on with a certificate from a CA made here
    const now = Date.now();
    const ca = createCa("test pg CA", new Date(now - HOUR), new Date(now + 24 * HOUR));
    const leaf = issue(ca, { names: ["localhost", "127.0.0.1"], notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) });
    cluster = join(dir, "cluster");
    await run("mkdir", ["-p", cluster]);
    await writeFile(join(dir, "server.crt"), leaf.cert);
    await writeFile(join(dir, "server.key"), leaf.key, { mode: 0o600 });
    await writeFile(join(dir, "ca.pem"), ca.cert);
    const postgresUid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim();
    const postgresGid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim();
    for (const f of [dir, cluster, join(dir, "server.crt"), join(dir, "server.key")]) await chown(f, Number(postgresUid), Number(postgresGid));
    await run("runuser", ["-u", "postgres", "--", pgBin("initdb"), "-D", cluster, "-A", "trust", "-U", "postgres", "--no-sync"], { timeout: 60_000 });
    clusterPort = await freePort();
    const opts = `-p ${clusterPort} -k ${dir} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=${join(dir, "server.crt")} -c ssl_key_file=${join(dir, "server.key")} -c fsync=off`;
    await run("runuser", ["-u", "postgres", "--", pgBin("pg_ctl"), "-D", cluster, "-o", opts, "-l", join(dir, "pg.log"), "-w", "-t", "60", "start"], { timeout: 70_000 });

    agent = await startCliAgent(
      [`pg=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`, `pgup=127.0.0.1:0,127.0.0.1:${clusterPort},postgres`, `pgn=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`],
      ["--proxy-tls", "pg=client:auto", "--proxy-tls", `pgup=upstream.ca:${join(dir, "ca.pem")}`, "--proxy-tls", "pgn=upstream:verify", "--state-dir", join(dir, "state"), "--log-level", "info"],
    );
    caFile = join(dir, "agent-ca.pem");
    const out = await runCli(["ca", "--out", caFile, "--agent", agent.url]);
    assert.equal(out.code, 0, out.stderr);
    admin = new pg.Client({ host: POSTGRES.host, port: POSTGRES.port, user: "postgres", database: "test" });
    await admin.connect();
    await admin.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, v text)`);
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await admin?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await admin?.end().catch(() => undefined);
    await agent?.close();
    if (cluster) await run("runuser", ["-u", "postgres", "--", pgBin("pg_ctl"), "-D", cluster, "-m", "immediate", "stop"]).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("pg with ssl {ca}: verified, encrypted to the agent, a 40001 rule felt, nothing inserted", async () => {
    const ca = await readFile(caFile, "utf8");
    const c = await client(agent.port("pg"), { ssl: { ca } });
    assert.equal((await c.query("SELECT 1 AS one")).rows[0].one, 1);
    await agent.ctl.apply("pg", undefined, { spec: { requests: [{ match: { query: `^\\s*INSERT INTO ${table}` }, fail: { code: "40001" } }] } });
    try {
      const err = await c.query(`INSERT INTO ${table} (v) VALUES ('x')`).then(() => null, (e: { code?: string }) => e);
      assert.equal(err?.code, "40001");
      assert.equal(Number((await admin.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n), 0);
      assert.equal((await c.query("SELECT 2 AS two")).rows[0].two, 2);
    } finally {
      await agent.ctl.clear("pg");
    }
  });

  test("psql sslmode=verify-full sslrootcert=ca.pem: connects encrypted and feels the rule", async () => {
    await agent.ctl.apply("pg", undefined, { spec: { requests: [{ match: { query: `INSERT INTO ${table}` }, fail: { code: "40001" } }] } });
    try {
      const conninfo = `host=127.0.0.1 port=${agent.port("pg")} user=postgres dbname=test sslmode=verify-full sslrootcert=${caFile}`;
      const ok = await run("psql", [conninfo, "-Atc", "SELECT 'through'"]);
      assert.equal(ok.stdout.trim(), "through");
      const failed = await run("psql", [conninfo, "-v", "ON_ERROR_STOP=1", "-c", `INSERT INTO ${table} (v) VALUES ('psql')`]).then(
        () => "",
        (e: { stderr?: string }) => e.stderr ?? "",
      );
      assert.match(failed, /could not serialize access/);
      assert.equal(Number((await admin.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n), 0);
      // without the CA psql refuses the agent's certificate
      const untrusted = await run("psql", [`host=127.0.0.1 port=${agent.port("pg")} user=postgres dbname=test sslmode=verify-full sslrootcert=${join(dir, "ca.pem")}`, "-Atc", "SELECT 1"]).then(
        () => "",
        (e: { stderr?: string }) => e.stderr ?? "",
      );
      assert.match(untrusted, /certificate verify failed/);
    } finally {
      await agent.ctl.clear("pg");
    }
  });

  test("direct TLS (ALPN postgresql, no SSLRequest) is accepted", async () => {
    const ca = await readFile(caFile, "utf8");
    const s = tls.connect({ host: "127.0.0.1", port: agent.port("pg"), ca, ALPNProtocols: ["postgresql"] });
    await once(s, "secureConnect");
    assert.equal(s.alpnProtocol, "postgresql");
    const params = Buffer.from("user\0postgres\0database\0test\0\0");
    const startup = Buffer.alloc(8 + params.length);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE(196608, 4);
    params.copy(startup, 8);
    s.write(startup);
    const [data] = (await once(s, "data")) as [Buffer];
    assert.equal(String.fromCharCode(data[0]!), "R", "the server's authentication answer comes back");
    s.destroy();
  });

  test("upstream: the agent's own SSLRequest; pg_stat_ssl on the TLS cluster says the connection is encrypted", async () => {
    const c = await client(agent.port("pgup"), { database: "postgres" });
    const r = await c.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    assert.equal(r.rows[0].ssl, true);
    assert.match(r.rows[0].version, /^TLSv1\.[23]$/);
  });

  test("upstream: a server that answers N is refused, never used in plaintext", async () => {
    const err = await client(agent.port("pgn")).then(() => null, (e: Error) => e);
    assert.ok(err instanceof Error, "the client's connection ends");
    const deadline = Date.now() + 5000;
    let log = "";
    while (Date.now() < deadline && !/proxy pgn: upstream side TLS failed/.test(log)) {
      log = agent.stderr();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(log, /proxy pgn: upstream side TLS failed: the server does not offer TLS \(it answered N to the SSLRequest\)/);
  });
});
