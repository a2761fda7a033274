// PostgreSQL (client `pg`) through the agent: real queries against the server on 5432.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { POSTGRES } from "../support/services.js";
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
  useProxyRig,
} from "./rig.js";

const table = `netimpair_${process.pid}_${randomBytes(3).toString("hex")}`;
const md5 = (s: string): string => createHash("md5").update(s).digest("hex");

describe("PostgreSQL through the agent (pg)", () => {
  const pools: pg.Pool[] = [];
  const poolErrors: Error[] = [];

  /** A pool through the proxy; `query_timeout` is the client setting the README recommends. */
  function pool(opts: pg.PoolConfig = {}): pg.Pool {
    const p = new pg.Pool({ host: "127.0.0.1", port: rig.port, user: "postgres", database: "test", max: 2, ...opts });
    p.on("error", (err) => poolErrors.push(err)); // an idle client's connection died
    pools.push(p);
    return p;
  }

  const rig = useProxyRig("pg", POSTGRES, async () => {
    const admin = new pg.Client({ host: POSTGRES.host, port: POSTGRES.port, user: "postgres", database: "test" });
    admin.on("error", () => {});
    await admin.connect();
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.end();
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
  });

  test("clean: DDL, a bulk insert, LISTEN/NOTIFY and reads come through intact", async () => {
    const p = pool();
    await p.query(`CREATE TABLE ${table} (id int PRIMARY KEY, body text NOT NULL)`);
    const ids = Array.from({ length: 1000 }, (_, i) => i);
    await p.query(`INSERT INTO ${table} SELECT i, md5(i::text) FROM unnest($1::int[]) AS i`, [ids]);
    const r = await p.query<{ n: string; bodies: string }>(`SELECT count(*) AS n, string_agg(body, '' ORDER BY id) AS bodies FROM ${table}`);
    assert.equal(r.rows[0]?.n, "1000");
    assert.equal(r.rows[0]?.bodies, ids.map((i) => md5(String(i))).join(""));

    const listener = await p.connect();
    try {
      const note = new Promise<string>((resolve) => listener.once("notification", (n) => resolve(n.payload ?? "")));
      await listener.query(`LISTEN ${table}`);
      await p.query("SELECT pg_notify($1, $2)", [table, "hello through the agent"]);
      assert.equal(await note, "hello through the agent");
      await listener.query(`UNLISTEN ${table}`);
    } finally {
      listener.release();
    }
  });

  test(`profile felt: ${FELT_PROFILE} makes each query a round trip and bulk data take size / bandwidth`, async (t) => {
    const p = pool();
    await p.query("SELECT 1"); // connected before the profile
    await rig.during(FELT_PROFILE, undefined, async () => {
      await assertRoundTrips(t, "queries", 5, (i) => p.query("SELECT $1::int AS i", [i]));

      const body = randomBytes(30_000).toString("hex"); // 60 kB up
      await assertUpFloor(t, "60 kB insert", body.length, () => p.query(`INSERT INTO ${table} VALUES (-1, $1)`, [body]));
      let back = "";
      await assertDownFloor(t, "60 kB select", body.length, async () => {
        back = (await p.query<{ body: string }>(`SELECT body FROM ${table} WHERE id = -1`)).rows[0]?.body ?? "";
      });
      assert.equal(back, body);
    });
  });

  test("reset: a running query fails with a connection error; the pool reconnects after clear", async (t) => {
    const p = pool();
    await p.query("SELECT 1");
    const running = p.query("SELECT pg_sleep(2)");
    running.catch(() => undefined); // the reset acts inside the apply: it may fail before failureOf looks
    await new Promise((r) => setTimeout(r, 200));
    await rig.apply("clean", RESET_NOW);
    const f = await failureOf(running, 5000, "query during reset");
    measured(t, `running query failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
    const next = await failureOf(p.query("SELECT 1"), 5000, "new connection while reset applies");
    measured(t, `a new connection while applied: ${describeError(next.error)}`);
    await rig.clear();
    const r = await p.query<{ ok: number }>("SELECT 1 AS ok");
    assert.equal(r.rows[0]?.ok, 1);
  });

  test("half-open: query_timeout notices; without it only the agent's hold ends the wait", async (t) => {
    const withTimeout = pool({ query_timeout: 1000 });
    const without = pool();
    await withTimeout.query("SELECT 1");
    await without.query("SELECT 1");
    await rig.during("clean", HALF_OPEN_NOW, async () => {
      const bare = failureOf(without.query("SELECT 1"), HALF_OPEN_HOLD_MS + 5000, "query without a timeout");
      const f = await failureOf(withTimeout.query("SELECT 1"), 5000, "query with query_timeout");
      measured(t, `query_timeout 1 s: failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      assert.match(f.error.message, /timeout/i);
      assert.ok(f.ms >= 900 && f.ms < 3000, `${f.ms} ms`);
      const b = await bare;
      measured(t, `no client timeout: failed after ${b.ms.toFixed(0)} ms (hold ${HALF_OPEN_HOLD_MS} ms): ${describeError(b.error)}`);
      assert.ok(b.ms >= HALF_OPEN_HOLD_MS - 1500, `${b.ms} ms`);
    });
    const r = await withTimeout.query<{ ok: number }>("SELECT 1 AS ok");
    assert.equal(r.rows[0]?.ok, 1);
  });

  test("stall: queries wait out stalls and return correct rows", async (t) => {
    const p = pool();
    await p.query("SELECT 1");
    await assertWaitsOutStalls(rig, t, "queries", async (i) => {
      const q = await p.query<{ h: string }>("SELECT md5($1::text) AS h", [String(i)]);
      assert.equal(q.rows[0]?.h, md5(String(i)));
    });
  });

  test("slicing: 7-byte pieces both ways (fresh connection, startup included) deliver correct data", async (t) => {
    await measureSliced(rig, t, "connect + 150-row select + echo", async () => {
      const p = pool({ max: 1 });
      const r = await p.query<{ i: number; h: string }>("SELECT i, md5(i::text) AS h FROM generate_series(1, 150) AS i ORDER BY i");
      assert.equal(r.rows.length, 150);
      r.rows.forEach((row, k) => {
        assert.equal(row.i, k + 1);
        assert.equal(row.h, md5(String(k + 1)));
      });
      const body = "x".repeat(500) + "é€😀";
      const e = await p.query<{ b: string }>("SELECT $1::text AS b", [body]);
      assert.equal(e.rows[0]?.b, body);
    });
  });
});
