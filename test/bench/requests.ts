// 7. Request layer cost: `pgbench -S` (transactions/s) and `redis-benchmark -P 16` (ops/s)
// straight to the server, through a tcp proxy, and through a protocol proxy with no rule and
// with a rule that never matches; all proxies in one agent started by the CLI
// (`netimpair agent`). Goal: a protocol proxy with non-matching rules costs <= 10 % against the
// tcp proxy. pgbench runs in its own database t_reqdb_bench (created and dropped here);
// redis-benchmark uses db 9 and deletes its keys after.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { Redis } from "ioredis";
import type { BenchContext } from "./lib/context.js";
import type { Row } from "./lib/report.js";
import { startCliAgent } from "../support/cli-agent.js";
import { POSTGRES, REDIS, serviceAddress } from "../support/services.js";

const run = promisify(execFile);
const DB = "t_reqdb_bench";
const GOAL = 0.1;

async function pgbench(port: number, seconds: number): Promise<number> {
  const { stdout } = await run("pgbench", ["-S", "-n", "-c", "4", "-j", "2", "-T", String(seconds), "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", DB], { maxBuffer: 1 << 24 });
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout) ?? /tps = ([\d.]+)/.exec(stdout);
  if (!m) throw new Error(`pgbench: no tps in ${stdout}`);
  return Number(m[1]);
}

async function redisBench(port: number, n: number): Promise<number> {
  const { stdout } = await run("redis-benchmark", ["-h", "127.0.0.1", "-p", String(port), "-P", "16", "-c", "8", "-n", String(n), "-t", "set,get", "--dbnum", "9", "--csv"], { maxBuffer: 1 << 24 });
  // "SET","123456.79",...
  const rates = [...stdout.matchAll(/^"(SET|GET)","([\d.]+)"/gm)].map((m) => Number(m[2]));
  if (rates.length === 0) throw new Error(`redis-benchmark: no rates in ${stdout}`);
  return rates.reduce((a, b) => a + b, 0) / rates.length;
}

export async function requests(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 3 : 8;
  const n = ctx.quick ? 100_000 : 400_000;
  const admin = new pg.Client({ host: POSTGRES.host, port: POSTGRES.port, user: "postgres", database: "postgres" });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await run("pgbench", ["-i", "-s", "1", "-q", "-h", POSTGRES.host, "-p", String(POSTGRES.port), "-U", "postgres", DB]);
  const agent = await startCliAgent([
    `pgtcp=127.0.0.1:0,${serviceAddress(POSTGRES)}`,
    `pgproto=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`,
    `pgrule=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`,
    `rdtcp=127.0.0.1:0,${serviceAddress(REDIS)}`,
    `rdproto=127.0.0.1:0,${serviceAddress(REDIS)},redis`,
    `rdrule=127.0.0.1:0,${serviceAddress(REDIS)},redis`,
  ], ["--log-level", "warn"]);
  try {
    await agent.ctl.apply("pgrule", undefined, { spec: { requests: [{ match: { query: "^\\s*DELETE FROM t_reqdb_never" }, fail: { code: "40001" } }] }, bindToSession: false });
    await agent.ctl.apply("rdrule", undefined, { spec: { requests: [{ match: { command: "HSET", key: "t_reqdb_never:*" }, fail: { error: "OOM" } }] }, bindToSession: false });
    const rows: Row[] = [];
    const paths: [string, number, number][] = [
      ["direct", POSTGRES.port, REDIS.port],
      ["tcp proxy", agent.port("pgtcp"), agent.port("rdtcp")],
      ["protocol proxy, no rule", agent.port("pgproto"), agent.port("rdproto")],
      ["protocol proxy, non-matching rule", agent.port("pgrule"), agent.port("rdrule")],
    ];
    const figures: Record<string, { pgTps: number; redisOps: number }> = {};
    for (const [name, pgPort, rdPort] of paths) {
      const tps = await pgbench(pgPort, seconds);
      const ops = await redisBench(rdPort, n);
      figures[name] = { pgTps: tps, redisOps: ops };
    }
    const tcp = figures["tcp proxy"]!;
    for (const [name] of paths) {
      const f = figures[name]!;
      rows.push({ path: name, "pgbench -S tps": Math.round(f.pgTps), "vs tcp": f.pgTps / tcp.pgTps, "redis -P 16 ops/s": Math.round(f.redisOps), "vs tcp ": f.redisOps / tcp.redisOps });
    }
    const worst = Math.min(figures["protocol proxy, non-matching rule"]!.pgTps / tcp.pgTps, figures["protocol proxy, non-matching rule"]!.redisOps / tcp.redisOps);
    ctx.results.table("requests", {
      title: "Request layer cost (agent started by the CLI; pgbench -S -c 4 -j 2, redis-benchmark -P 16 -c 8 set,get)",
      columns: ["path", "pgbench -S tps", "vs tcp", "redis -P 16 ops/s", "vs tcp "],
      rows,
      notes: [`goal: a protocol proxy with a non-matching rule >= ${1 - GOAL} of the tcp proxy; worst ratio ${worst.toFixed(3)} (${worst >= 1 - GOAL ? "met" : "NOT met"})`, "2 shared cores: the load generators, the servers and the agent compete for them"],
    });
    ctx.results.figure("requests", "figures", figures);
    ctx.results.figure("requests", "worstRatioVsTcp", worst);
  } finally {
    await agent.close();
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`).catch(() => undefined);
    await admin.end();
    const r = new Redis({ host: REDIS.host, port: REDIS.port, db: 9 });
    r.on("error", () => {});
    await r.del("key:__rand_int__", "counter:__rand_int__").catch(() => undefined);
    r.disconnect();
  }
}
