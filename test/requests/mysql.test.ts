// Request faults on a mysql proxy, felt by mysql2 through an agent started by the CLI, checked
// against what MariaDB on 3306 holds afterwards.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import { MARIADB, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

const table = `t_reqdb_${process.pid}_${randomBytes(3).toString("hex")}`;

describe("mysql request faults (mysql2, CLI agent)", () => {
  let agent: CliAgent;
  let admin: mysql.Connection;
  const conns: mysql.Connection[] = [];

  async function client(): Promise<mysql.Connection> {
    const c = await mysql.createConnection({ host: "127.0.0.1", port: agent.port("my"), user: "root", database: "test" });
    c.on("error", () => {});
    conns.push(c);
    return c;
  }
  async function rules(requests: unknown[]): Promise<void> {
    await agent.ctl.apply("my", undefined, { spec: { requests } });
  }
  async function rows(): Promise<number> {
    const [r] = await admin.query(`SELECT count(*) AS n FROM ${table}`);
    return Number((r as { n: number }[])[0]!.n);
  }

  before(async () => {
    await requireService(MARIADB);
    agent = await startCliAgent([`my=127.0.0.1:0,${serviceAddress(MARIADB)},mysql`]);
    admin = await mysql.createConnection({ host: MARIADB.host, port: MARIADB.port, user: "root", database: "test" });
    await admin.query(`CREATE TABLE ${table} (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT) ENGINE=InnoDB`);
  });

  after(async () => {
    for (const c of conns) await c.end().catch(() => undefined);
    await admin.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await admin.end();
    await agent?.close();
  });

  test("no rule: queries and prepared statements pass", async () => {
    await agent.ctl.clear("my");
    const c = await client();
    const [r] = await c.query("SELECT 1 AS one");
    assert.equal((r as { one: number }[])[0]!.one, 1);
    const [e] = await c.execute("SELECT ? + 1 AS n", [41]);
    assert.equal(Number((e as { n: number }[])[0]!.n), 42);
  });

  test("deadlock 1213 rolls the whole transaction back at the server; err.errno 1213, sqlState 40001", async () => {
    await rules([{ match: { query: "'dead'" }, fail: { errno: 1213 } }]);
    const c = await client();
    await c.query("BEGIN");
    await c.query(`INSERT INTO ${table} (v) VALUES ('first')`);
    const err = (await c.query(`INSERT INTO ${table} (v) VALUES ('dead')`).then(() => null, (x: unknown) => x)) as { errno?: number; sqlState?: string; message?: string } | null;
    assert.equal(err?.errno, 1213);
    assert.equal(err?.sqlState, "40001");
    assert.equal(err?.message, "Deadlock found when trying to get lock; try restarting transaction");
    await c.query("COMMIT");
    assert.equal(await rows(), 0, "the first insert must be rolled back with the transaction");
  });

  test("lock wait timeout 1205 fails only the statement; the transaction goes on", async () => {
    await rules([{ match: { query: "'waits'" }, fail: { errno: 1205 } }]);
    const c = await client();
    await c.query("BEGIN");
    await c.query(`INSERT INTO ${table} (v) VALUES ('kept')`);
    const err = (await c.query(`INSERT INTO ${table} (v) VALUES ('waits')`).then(() => null, (x: unknown) => x)) as { errno?: number } | null;
    assert.equal(err?.errno, 1205);
    await c.query("COMMIT");
    assert.equal(await rows(), 1);
    await admin.query(`DELETE FROM ${table}`);
  });

  test("prepared statements: COM_STMT_PREPARE matches on its SQL", async () => {
    await rules([{ match: { query: "^SELECT \\? \\* 2" }, fail: { errno: 1317 } }]);
    const c = await client();
    const err = (await c.execute("SELECT ? * 2 AS n", [2]).then(() => null, (x: unknown) => x)) as { errno?: number } | null;
    assert.equal(err?.errno, 1317);
    const [r] = await c.execute("SELECT ? * 3 AS n", [2]);
    assert.equal(Number((r as { n: number }[])[0]!.n), 6);
  });

  test("lose: response: the row is written, the client hears nothing and is reset", async () => {
    await rules([{ match: { query: "'lost'" }, lose: "response" }]);
    const c = await client();
    const err = await c.query(`INSERT INTO ${table} (v) VALUES ('lost')`).then(() => null, (x: unknown) => x);
    assert.ok(err instanceof Error);
    assert.equal(await rows(), 1);
    await admin.query(`DELETE FROM ${table}`);
  });

  test("bad rules are refused naming the field", async () => {
    const err = await rules([{ match: {}, fail: { errno: "x" } }]).then(() => null, (x: unknown) => x);
    assert.ok(err instanceof Error);
    assert.match(`${err.message} ${JSON.stringify((err as { data?: unknown }).data ?? "")}`, /requests\[0\]\.fail\.errno/);
  });
});
