// Hostile and pipelining clients of a postgres proxy (issue 23, items 4 and 8): every statement
// of an extended-protocol pipeline is a request for the rules, and a failed one leaves the real
// server as a real failure there would; a client that prepares and closes statements without end
// does not grow the agent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { POSTGRES, requireService, serviceAddress } from "../support/services.js";
import { startProxyRig, type ProxyRig } from "../protocols/rig.js";
import { PgWire, errorCode, wire } from "../support/pg-wire.js";

const table = `t_hostile_${process.pid}_${randomBytes(3).toString("hex")}`;

/** Ten statements before one Sync; the 5th is the INSERT. */
function pipeline(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 1; i <= 10; i++) {
    const sql = i === 5 ? `INSERT INTO ${table} VALUES (5, 0)` : `UPDATE ${table} SET v = v + 1 WHERE id = 1`;
    out.push(wire.parse(sql), wire.bind(), wire.describePortal(), wire.execute());
  }
  out.push(wire.sync());
  return out;
}

describe("hostile clients of a postgres proxy", () => {
  let rig: ProxyRig;
  let admin: pg.Client;

  before(async () => {
    await requireService(POSTGRES);
    admin = new pg.Client({ host: POSTGRES.host, port: POSTGRES.port, user: "postgres", database: "test" });
    await admin.connect();
    await admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`);
    rig = await startProxyRig("pg", serviceAddress(POSTGRES), "postgres");
  });

  after(async () => {
    await admin?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await admin?.end();
    if (rig) await rig.close();
  });

  async function reset(): Promise<void> {
    await admin.query(`DELETE FROM ${table}`);
    await admin.query(`INSERT INTO ${table} VALUES (1, 0)`);
  }

  async function rows(): Promise<string> {
    const r = await admin.query<{ id: number; v: number }>(`SELECT id, v FROM ${table} ORDER BY id`);
    return r.rows.map((x) => `${x.id}:${x.v}`).join(",");
  }

  test("item 4: a fail at the 5th statement of a pipeline leaves the server as PostgreSQL does", async () => {
    // what PostgreSQL itself does when the 5th statement fails (a duplicate key there)
    await reset();
    await admin.query(`INSERT INTO ${table} VALUES (5, 9)`);
    const direct = await PgWire.open(POSTGRES.port, "postgres", "test");
    direct.write(...pipeline());
    const real = await direct.until("Z");
    direct.close();
    const realShape = real.map((m) => m.type).join("");
    assert.equal(await rows(), "1:0,5:9", "PostgreSQL rolled the four UPDATEs back");

    await reset();
    await rig.apply(undefined, { spec: { requests: [{ match: { query: "^\\s*INSERT" }, fail: { code: "40001" } }] } });
    try {
      const c = await PgWire.open(rig.port, "postgres", "test");
      c.write(...pipeline());
      const got = await c.until("Z");
      const errors = got.filter((m) => m.type === "E");
      assert.equal(errors.length, 1, `one ErrorResponse: ${got.map((m) => m.type).join("")}`);
      assert.equal(errorCode(errors[0]!.body), "40001");
      // the four results before it, in order, then the error, then ReadyForQuery idle
      assert.equal(got.filter((m) => m.type === "C").length, 4);
      assert.equal(got.map((m) => m.type).join("").replace(/E.*/, "E"), realShape.replace(/E.*/, "E"), "the same messages as the real failure up to the error");
      const z = got[got.length - 1]!;
      assert.equal(z.type, "Z");
      assert.equal(z.body.toString("latin1"), "I");
      assert.equal(await rows(), "1:0", "nothing committed: the UPDATEs rolled back, the INSERT never ran");
      // the connection goes on
      c.write(wire.query(`SELECT v FROM ${table} WHERE id = 1`));
      const after = await c.until("Z");
      assert.ok(after.some((m) => m.type === "D"));
      c.close();
    } finally {
      await rig.clear();
    }
  });

  test("item 4: each statement of a pipeline meets the rules (a fail on the 1st, or on none)", async () => {
    await reset();
    await rig.apply(undefined, { spec: { requests: [{ match: { query: "^\\s*UPDATE" }, fail: { code: "55P03" } }] } });
    try {
      const c = await PgWire.open(rig.port, "postgres", "test");
      c.write(...pipeline());
      const got = await c.until("Z");
      assert.deepEqual(got.filter((m) => m.type === "E").map((m) => errorCode(m.body)), ["55P03"]);
      assert.equal(got.filter((m) => m.type === "C").length, 0);
      assert.equal(await rows(), "1:0");
      c.close();
    } finally {
      await rig.clear();
    }
    // a rule that matches none: everything commits, as without the agent
    await rig.apply(undefined, { spec: { requests: [{ match: { query: "^\\s*DELETE" }, fail: { code: "40001" } }] } });
    try {
      const c = await PgWire.open(rig.port, "postgres", "test");
      c.write(...pipeline());
      const got = await c.until("Z");
      assert.equal(got.filter((m) => m.type === "E").length, 0);
      assert.equal(await rows(), "1:9,5:0");
      c.close();
    } finally {
      await rig.clear();
    }
  });

  test("item 4: lose on a statement of a pipeline: the server does the whole batch, the client never hears", async () => {
    await reset();
    await rig.apply(undefined, { spec: { requests: [{ match: { query: "^\\s*INSERT" }, lose: "response" }] } });
    try {
      const c = await PgWire.open(rig.port, "postgres", "test");
      c.write(...pipeline());
      await assert.rejects(c.until("Z"), /closed/);
      assert.equal(await rows(), "1:9,5:0", "the batch ran and committed at the server");
    } finally {
      await rig.clear();
    }
  });
});
