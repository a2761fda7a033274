// Verdicts on the client over postgres and redis: the real `netimpair run` with `expect:` and, as
// its command, node-postgres or ioredis written to a known behaviour (test/support/clients/
// data-client.ts) against the real PostgreSQL and Redis through the agent's protocol proxies.
// Retries are recognised by the request's bytes (SQL text and parameters; command and
// arguments); timeouts by the client dropping the connection it timed out on.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { Redis } from "ioredis";
import type { ClientStats } from "../../src/report/clients.js";
import { clientProgram, verdictLab, type VerdictLab, type VerdictRun } from "../support/verdict-lab.js";

const TABLE = "i30_verdicts";
const PREFIX = "i30_verdicts";
let lab: VerdictLab;
let db: pg.Client;
let redis: Redis;

before(async () => {
  lab = await verdictLab(["pg=127.0.0.1:0,127.0.0.1:5432,postgres", "cache=127.0.0.1:0,127.0.0.1:6379,redis"]);
  db = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test" });
  await db.connect();
  await db.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int)`);
  redis = new Redis({ host: "127.0.0.1", port: 6379 });
});
after(async () => {
  await db?.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => undefined);
  await db?.end();
  redis?.disconnect();
  await lab?.close();
});

const RULES = {
  pg: `
        - match: {query: "^INSERT INTO ${TABLE}"}
          fail: {code: "40001"}
        - match: {query: "^SELECT 'slow'"}
          delay: 2s`,
  cache: `
        - match: {command: SET, key: "${PREFIX}:charge:*"}
          fail: {error: ERR}
        - match: {command: GET, key: "${PREFIX}:slow:*"}
          delay: 2s`,
};

function scenario(proxy: "pg" | "cache"): string {
  return `
name: data-verdicts
proxies: [${proxy}]
steps:
  - at: 0s
    apply:
      requests:${RULES[proxy]}
expect:
  - proxy: ${proxy}
    retries: {max: 3}
    backoff: {first: 100ms, growth: 1.5}
    timeout: {max: 1s}
`;
}

function within(v: number | null | undefined, lo: number, hi: number, what: string): void {
  assert.ok(typeof v === "number" && v >= lo && v <= hi, `${what}: ${v} not within ${lo}..${hi}`);
}

async function play(proxy: "pg" | "cache", mode: "careful" | "careless"): Promise<{ run: VerdictRun; c: ClientStats }> {
  await db.query(`DELETE FROM ${TABLE}`);
  const run = await lab.run(scenario(proxy), [process.execPath, clientProgram("data-client"), "--kind", proxy === "pg" ? "pg" : "redis", "--port", String(lab.agent.port(proxy)), "--mode", mode, "--name", proxy === "pg" ? TABLE : PREFIX, "--requests", "2", "--slow", "2", "--retries", "3", "--backoff", "150", "--timeout", "400"]);
  const c = run.report.clients?.[proxy];
  assert.ok(c, `${run.stderr}\n${run.stdout}`);
  return { run, c };
}

async function held(proxy: "pg" | "cache"): Promise<number> {
  if (proxy === "pg") return Number((await db.query(`SELECT count(*) AS n FROM ${TABLE}`)).rows[0].n);
  return (await redis.keys(`${PREFIX}:charge:*`)).length;
}

for (const proxy of ["pg", "cache"] as const) {
  const client = proxy === "pg" ? "node-postgres" : "ioredis";

  test(`${client}, careful: bounded retries with backoff, and a timeout that drops the connection, pass`, async () => {
    const { run, c } = await play(proxy, "careful");
    assert.equal(run.code, 0, `${run.stderr}\n${JSON.stringify(run.report.expectations, null, 1)}`);
    assert.equal(c.retries.perFailure.max, 3, JSON.stringify(c));
    within(c.retries.spacingMs[0], 135, 150 * 1.2 * 1.1 + 60, "1st retry spacing");
    within(c.retries.spacingMs[1], 270, 300 * 1.2 * 1.1 + 60, "2nd retry spacing");
    within(c.retries.spacingMs[2], 540, 600 * 1.2 * 1.1 + 60, "3rd retry spacing");
    assert.equal(c.timeouts.abandoned, 2, JSON.stringify(c.timeouts));
    assert.equal(c.timeouts.neverGaveUp, 0);
    // the client's timer starts when it queues the query, a little before its bytes reach the agent
    within(c.timeouts.p50Ms, 300, 480 + 60, "gave up after");
    for (const e of run.report.expectations ?? []) assert.ok(e.held && e.got !== null, JSON.stringify(e));
    // the server holds none of the failed writes
    assert.equal(await held(proxy), 0);
  });

  test(`${client}, careless: immediate retries and no timeout break each expectation`, async () => {
    const { run, c } = await play(proxy, "careless");
    assert.equal(run.code, 1, run.stderr);
    assert.equal(c.retries.perFailure.max, 9, JSON.stringify(c));
    assert.ok(c.retries.spacingMs.every((ms) => ms < 100), `immediate retries: ${c.retries.spacingMs.join(", ")}`);
    assert.equal(c.timeouts.neverGaveUp, 2, JSON.stringify(c.timeouts));
    const broken = (run.report.expectations ?? []).filter((e) => !e.held).map((e) => e.what);
    assert.deepEqual(broken, ["retries", "backoff", "timeout"]);
    assert.equal(await held(proxy), 0);
  });
}
