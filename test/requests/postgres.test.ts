// Request faults on a postgres proxy, felt by node-postgres (pg) through an agent started by the
// CLI, checked against what the PostgreSQL server on 5432 holds afterwards.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { POSTGRES, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

const table = `t_reqdb_${process.pid}_${randomBytes(3).toString("hex")}`;

describe("postgres request faults (pg, CLI agent)", () => {
  let agent: CliAgent;
  let admin: pg.Client;
  const clients: pg.Client[] = [];

  async function client(opts: pg.ClientConfig = {}): Promise<pg.Client> {
    const c = new pg.Client({ host: "127.0.0.1", port: agent.port("pg"), user: "postgres", database: "test", ...opts });
    c.on("error", () => {});
    clients.push(c);
    await c.connect();
    return c;
  }
  async function rules(requests: unknown[]): Promise<void> {
    await agent.ctl.apply("pg", undefined, { spec: { requests } });
  }
  async function rows(): Promise<number> {
    return Number((await admin.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  }

  before(async () => {
    await requireService(POSTGRES);
    agent = await startCliAgent([`pg=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`]);
    admin = new pg.Client({ host: POSTGRES.host, port: POSTGRES.port, user: "postgres", database: "test" });
    await admin.connect();
    await admin.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, v text)`);
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await admin.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await admin.end();
    await agent?.close();
  });

  test("no rule: simple and extended queries, COPY-free traffic and LISTEN/NOTIFY pass", async () => {
    await agent.ctl.clear("pg");
    const c = await client();
    assert.equal((await c.query("SELECT 1 AS one")).rows[0].one, 1);
    assert.equal((await c.query("SELECT $1::text AS t", ["hello"])).rows[0].t, "hello");
    assert.equal((await c.query({ name: "named1", text: "SELECT $1::int + 1 AS n", values: [41] })).rows[0].n, 42);
    assert.equal((await c.query({ name: "named1", text: "SELECT $1::int + 1 AS n", values: [1] })).rows[0].n, 2);
    await c.query(`LISTEN ${table}`);
    const got = new Promise<string>((r) => c.once("notification", (n) => r(n.payload ?? "")));
    await admin.query(`NOTIFY ${table}, 'ping'`);
    assert.equal(await got, "ping");
  });

  test("fail {code: 40001} on a matching INSERT: err.code 40001 with the server's text; connection usable", async () => {
    await rules([{ match: { query: `^\\s*INSERT INTO ${table}` }, fail: { code: "40001" } }]);
    const c = await client();
    const err = (await c.query(`INSERT INTO ${table} (v) VALUES ($1)`, ["a"]).then(() => null, (e: unknown) => e)) as { code?: string; message?: string } | null;
    assert.equal(err?.code, "40001");
    assert.equal(err?.message, "could not serialize access due to concurrent update");
    assert.equal(await rows(), 0);
    assert.equal((await c.query("SELECT 2 AS two")).rows[0].two, 2);
  });

  test("an error inside a transaction aborts it at the server (25P02 until ROLLBACK); nothing is kept", async () => {
    await rules([{ match: { query: "'boom'" }, fail: { code: "40P01" } }]);
    const c = await client();
    await c.query("BEGIN");
    await c.query(`INSERT INTO ${table} (v) VALUES ('kept?')`);
    const err = (await c.query(`INSERT INTO ${table} (v) VALUES ('boom')`).then(() => null, (e: unknown) => e)) as { code?: string } | null;
    assert.equal(err?.code, "40P01");
    const next = (await c.query("SELECT 1").then(() => null, (e: unknown) => e)) as { code?: string } | null;
    assert.equal(next?.code, "25P02");
    await c.query("ROLLBACK");
    assert.equal(await rows(), 0);
    assert.equal((await c.query("SELECT 3 AS n")).rows[0].n, 3);
  });

  test("a failed COMMIT commits nothing and leaves the session idle", async () => {
    await rules([{ match: { query: "^COMMIT" }, fail: { code: "40001" } }]);
    const c = await client();
    await c.query("BEGIN");
    await c.query(`INSERT INTO ${table} (v) VALUES ('c1')`);
    const err = (await c.query("COMMIT").then(() => null, (e: unknown) => e)) as { code?: string } | null;
    assert.equal(err?.code, "40001");
    assert.equal(await rows(), 0);
    assert.equal((await c.query("SELECT 4 AS n")).rows[0].n, 4);
  });

  test("lose: response on COMMIT: the row is there, the client never heard", async () => {
    await rules([{ match: { query: "^COMMIT" }, lose: "response" }]);
    const c = await client();
    await c.query("BEGIN");
    await c.query(`INSERT INTO ${table} (v) VALUES ('lost')`);
    const err = await c.query("COMMIT").then(() => null, (e: unknown) => e);
    assert.ok(err instanceof Error);
    assert.equal(await rows(), 1);
    await admin.query(`DELETE FROM ${table}`);
  });

  test("startup: fail on user/database is FATAL as a real server refuses (53300)", async () => {
    await rules([{ match: { user: "postgres", database: "test" }, fail: { code: "53300" } }]);
    const err = (await client().then(() => null, (e: unknown) => e)) as { code?: string; message?: string } | null;
    assert.equal(err?.code, "53300");
    assert.equal(err?.message, "sorry, too many clients already");
    await agent.ctl.clear("pg");
    assert.equal((await (await client()).query("SELECT 5 AS n")).rows[0].n, 5);
  });

  test("sslmode prefer: the agent refuses the SSLRequest and the client continues in plaintext", async () => {
    await rules([{ match: { query: "^SELECT 'tls'" }, fail: { code: "57014" } }]);
    const c = await client({ ssl: false });
    // a raw SSLRequest gets 'N'
    const s = net.connect(agent.port("pg"), "127.0.0.1");
    s.on("error", () => {});
    await new Promise((r) => s.once("connect", r));
    const req = Buffer.alloc(8);
    req.writeInt32BE(8, 0);
    req.writeInt32BE(80877103, 4);
    s.write(req);
    const answer = await new Promise<Buffer>((r) => s.once("data", r));
    assert.equal(answer.toString(), "N");
    s.destroy();
    const err = (await c.query("SELECT 'tls'").then(() => null, (e: unknown) => e)) as { code?: string } | null;
    assert.equal(err?.code, "57014");
  });

  test("delay, reset, times and after", async () => {
    await rules([
      { match: { query: "^SELECT 'slow'" }, delay: "300ms" },
      { match: { query: "^SELECT 'rst'" }, reset: true },
      { match: { query: "^SELECT 'ta'" }, fail: { code: "55P03" }, after: 1, times: 2 },
    ]);
    const c = await client();
    const t0 = Date.now();
    await c.query("SELECT 'slow'");
    assert.ok(Date.now() - t0 >= 280);
    const out: string[] = [];
    for (let i = 0; i < 4; i++) out.push(await c.query("SELECT 'ta'").then(() => "ok", (e: { code?: string }) => e.code ?? "?"));
    assert.deepEqual(out, ["ok", "55P03", "55P03", "ok"]);
    const err = await c.query("SELECT 'rst'").then(() => null, (e: unknown) => e);
    assert.ok(err instanceof Error);
  });

  test("bad rules are refused naming the field: regex, SQLSTATE, match field", async () => {
    const bad: [unknown, RegExp][] = [
      [{ match: { query: "(" }, fail: { code: "40001" } }, /requests\[0\]\.match\.query.*bad regular expression/],
      [{ match: {}, fail: { code: "4001" } }, /requests\[0\]\.fail\.code.*five characters/],
      [{ match: { command: "SET" }, fail: { code: "40001" } }, /requests\[0\]\.match\.command.*postgres protocol has no match field/],
    ];
    for (const [rule, re] of bad) {
      const err = await rules([rule]).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof Error, `accepted ${JSON.stringify(rule)}`);
      assert.match(`${err.message} ${JSON.stringify((err as { data?: unknown }).data ?? "")}`, re);
    }
  });

  test("random bytes into the proxy never crash the agent or harm another connection", async () => {
    await rules([{ match: { query: "^SELECT 'never'" }, fail: { code: "40001" } }]);
    const good = await client();
    for (let i = 0; i < 10; i++) {
      const s = net.connect(agent.port("pg"), "127.0.0.1");
      s.on("error", () => {});
      await new Promise((r) => s.once("connect", r));
      s.write(randomBytes(10 + i * 40));
      await new Promise((r) => setTimeout(r, 20));
      s.destroy();
      assert.equal((await good.query("SELECT $1::int AS n", [i])).rows[0].n, i);
    }
    assert.equal(agent.child.exitCode, null);
  });
});
