// MySQL protocol (MariaDB server on 3306, client `mysql2`) through the agent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import { MARIADB } from "../support/services.js";
import {
  FELT_PROFILE,
  HALF_OPEN_HOLD_MS,
  HALF_OPEN_NOW,
  RESET_NOW,
  assertDownFloor,
  assertRoundTrips,
  assertUpFloor,
  assertWaitsOutStalls,
  describeError,
  failureOf,
  measureSliced,
  measured,
  sleep,
  useProxyRig,
} from "./rig.js";

const table = `netimpair_${process.pid}_${randomBytes(3).toString("hex")}`;
const md5 = (s: string): string => createHash("md5").update(s).digest("hex");
type Row = mysql.RowDataPacket;

describe("MySQL protocol through the agent (mysql2 -> MariaDB)", () => {
  const pools: mysql.Pool[] = [];

  function pool(opts: mysql.PoolOptions = {}): mysql.Pool {
    const p = mysql.createPool({ host: "127.0.0.1", port: rig.port, user: "root", database: "test", connectionLimit: 2, ...opts });
    pools.push(p);
    return p;
  }

  const rig = useProxyRig("mysql", MARIADB, async () => {
    const admin = await mysql.createConnection({ host: MARIADB.host, port: MARIADB.port, user: "root", database: "test" });
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.end();
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
  });

  test("clean: DDL, a bulk insert, a transaction and prepared statements come through intact", async () => {
    const p = pool();
    await p.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, body LONGTEXT NOT NULL)`);
    const rows = Array.from({ length: 1000 }, (_, i) => [i, md5(String(i))]);
    await p.query(`INSERT INTO ${table} (id, body) VALUES ?`, [rows]);
    const [agg] = await p.query<Row[]>(`SELECT COUNT(*) AS n, GROUP_CONCAT(body ORDER BY id SEPARATOR '') AS bodies FROM ${table}`);
    assert.equal(Number(agg[0]?.n), 1000);
    // GROUP_CONCAT is cut at group_concat_max_len; compare what came back with its prefix
    const all = rows.map((r) => r[1]).join("");
    assert.ok(String(agg[0]?.bodies).length >= 1024 && all.startsWith(String(agg[0]?.bodies)));
    const [some] = await p.execute<Row[]>(`SELECT id, body FROM ${table} WHERE id BETWEEN ? AND ? ORDER BY id`, [10, 19]);
    assert.deepEqual(
      some.map((r) => [r.id, r.body]),
      rows.slice(10, 20),
    );

    const conn = await p.getConnection();
    try {
      await conn.beginTransaction();
      await conn.query(`UPDATE ${table} SET body = 'changed' WHERE id = 1`);
      await conn.rollback();
    } finally {
      conn.release();
    }
    const [one] = await p.query<Row[]>(`SELECT body FROM ${table} WHERE id = 1`);
    assert.equal(one[0]?.body, md5("1"));
  });

  test(`profile felt: ${FELT_PROFILE} makes each query a round trip and bulk data take size / bandwidth`, async (t) => {
    const p = pool();
    await p.query("SELECT 1");
    await rig.during(FELT_PROFILE, undefined, async () => {
      await assertRoundTrips(t, "queries", 5, (i) => p.query("SELECT ? AS i", [i]));

      const body = randomBytes(30_000).toString("hex");
      await assertUpFloor(t, "60 kB insert", body.length, () => p.query(`INSERT INTO ${table} VALUES (-1, ?)`, [body]));
      let back = "";
      await assertDownFloor(t, "60 kB select", body.length, async () => {
        const [r] = await p.query<Row[]>(`SELECT body FROM ${table} WHERE id = -1`);
        back = String(r[0]?.body);
      });
      assert.equal(back, body);
    });
  });

  test("reset: a running query fails with a connection error; the pool reconnects after clear", async (t) => {
    const p = pool();
    await p.query("SELECT 1");
    const running = p.query("SELECT SLEEP(2)");
    running.catch(() => undefined); // the reset acts inside the apply: it may fail before failureOf looks
    await sleep(200);
    await rig.apply("clean", RESET_NOW);
    const f = await failureOf(running, 5000, "query during reset");
    measured(t, `running query failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
    const next = await failureOf(p.query("SELECT 1"), 5000, "new connection while reset applies");
    measured(t, `a new connection while applied: ${describeError(next.error)}`);
    await rig.clear();
    const [r] = await p.query<Row[]>("SELECT 1 AS ok");
    assert.equal(Number(r[0]?.ok), 1);
  });

  test("half-open: the per-query timeout notices; without it only the agent's hold ends the wait", async (t) => {
    const p = pool();
    const bareConn = await mysql.createConnection({ host: "127.0.0.1", port: rig.port, user: "root", database: "test" });
    bareConn.on("error", () => {});
    await p.query("SELECT 1");
    await bareConn.query("SELECT 1");
    await rig.apply("clean", HALF_OPEN_NOW);
    try {
      const bare = failureOf(bareConn.query("SELECT 1"), HALF_OPEN_HOLD_MS + 5000, "query without a timeout");
      const f = await failureOf(p.query({ sql: "SELECT 1", timeout: 1000 }), 5000, "query with timeout");
      measured(t, `query timeout 1 s: failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      assert.match(f.error.message, /timeout/i);
      assert.ok(f.ms >= 900 && f.ms < 3000, `${f.ms} ms`);
      const b = await bare;
      measured(t, `no client timeout: failed after ${b.ms.toFixed(0)} ms (hold ${HALF_OPEN_HOLD_MS} ms): ${describeError(b.error)}`);
      assert.ok(b.ms >= HALF_OPEN_HOLD_MS - 1500, `${b.ms} ms`);
    } finally {
      await rig.clear();
      bareConn.destroy();
    }
    const [r] = await p.query<Row[]>({ sql: "SELECT 1 AS ok", timeout: 1000 });
    assert.equal(Number(r[0]?.ok), 1);
  });

  test("stall: queries wait out stalls and return correct rows", async (t) => {
    const p = pool();
    await p.query("SELECT 1");
    await assertWaitsOutStalls(rig, t, "queries", async (i) => {
      const [q] = await p.query<Row[]>("SELECT MD5(?) AS h", [String(i)]);
      assert.equal(q[0]?.h, md5(String(i)));
    });
  });

  test("slicing: 7-byte pieces both ways (fresh connection, handshake included) deliver correct data", async (t) => {
    await measureSliced(rig, t, "connect + 150-row select + prepared echo", async () => {
      const p = pool({ connectionLimit: 1 });
      const [rows] = await p.query<Row[]>(`SELECT id, body FROM ${table} WHERE id BETWEEN 0 AND 149 ORDER BY id`);
      assert.equal(rows.length, 150);
      rows.forEach((row, k) => {
        assert.equal(row.id, k);
        assert.equal(row.body, md5(String(k)));
      });
      const body = "x".repeat(500) + "é€😀";
      const [e] = await p.execute<Row[]>("SELECT CAST(? AS CHAR) AS b", [body]);
      assert.equal(e[0]?.b, body);
    });
  });
});
