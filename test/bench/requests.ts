// 7. Request layer cost, on the agent the CLI starts (`netimpair agent`, its own process):
// a. `pgbench -S` (transactions/s), `redis-benchmark -P 16` (ops/s) and `mysqlslap` (SELECT 1,
//    queries/s) straight to the server, through a tcp proxy, and through a protocol proxy with no
//    rule and with a rule that never matches. pgbench runs in its own database t_reqdb_bench
//    (created and dropped here); redis-benchmark uses db 9 and deletes its keys after.
//    `requests-db` runs only this part.
// b. HTTP/1.1 requests/s (wrk, or the bench's own client where wrk is missing; keep-alive, 32
//    connections) straight to the server, through a tcp proxy, and through http proxies with no
//    rule and with 10 rules that never match; interleaved rounds, medians and their spread.
//    `requests-http` runs only this part.
// c. gRPC unary calls/s (grpc-js, 16 calls in flight on one channel) through a tcp proxy and a
//    grpc proxy (HTTP/2 spliced: h2-splice.ts) holding a rule that never matches.
//    `requests-grpc` runs only this part. Goal (issue 27): >= 0.85x the tcp proxy's calls/s and
//    <= 5x its agent CPU per call.
// Goal: a protocol proxy with non-matching rules costs <= 10 % against the tcp proxy.
import { execFile, spawn, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Redis } from "ioredis";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { BenchContext } from "./lib/context.js";
import type { Row } from "./lib/report.js";
import { median, round } from "./lib/stats.js";
import { startCliAgentProxies } from "./lib/cli-agent.js";
import { procUsage } from "./lib/proc.js";
import type { LoadResult } from "./lib/http-load.js";
import { startCliAgent } from "../support/protocol-agent.js";
import { MARIADB, POSTGRES, REDIS, serviceAddress } from "../support/services.js";

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

async function mysqlslap(port: number, queries: number): Promise<number> {
  const { stdout } = await run("mysqlslap", ["-h", "127.0.0.1", "-P", String(port), "-u", "root", "--skip-ssl", "--concurrency=4", `--number-of-queries=${queries}`, "--query=SELECT 1", "--create-schema=test"], { maxBuffer: 1 << 24 });
  const m = /Average number of seconds to run all queries: ([\d.]+)/.exec(stdout);
  if (!m) throw new Error(`mysqlslap: no time in ${stdout}`);
  return queries / Number(m[1]);
}

/** CPU seconds (user + system, every thread) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is the state (field 3 of stat): utime and stime are fields 14 and 15
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function databaseRows(ctx: BenchContext): Promise<void> {
  // rounds over the paths in turn, the best of each kept: on 2 shared cores one run of a path
  // can lose half its rate to a neighbour, and the paths must not take turns at the noise
  const rounds = ctx.quick ? 1 : 3;
  const seconds = ctx.quick ? 3 : 5;
  const n = ctx.quick ? 100_000 : 200_000;
  const myQueries = ctx.quick ? 40_000 : 100_000;
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
    `mytcp=127.0.0.1:0,${serviceAddress(MARIADB)}`,
    `myproto=127.0.0.1:0,${serviceAddress(MARIADB)},mysql`,
    `myrule=127.0.0.1:0,${serviceAddress(MARIADB)},mysql`,
  ], ["--log-level", "warn"]);
  try {
    await agent.ctl.apply("pgrule", undefined, { spec: { requests: [{ match: { query: "^\\s*DELETE FROM t_reqdb_never" }, fail: { code: "40001" } }] }, bindToSession: false });
    await agent.ctl.apply("rdrule", undefined, { spec: { requests: [{ match: { command: "HSET", key: "t_reqdb_never:*" }, fail: { error: "OOM" } }] }, bindToSession: false });
    await agent.ctl.apply("myrule", undefined, { spec: { requests: [{ match: { query: "^\\s*DELETE FROM t_reqdb_never" }, fail: { errno: 1213 } }] }, bindToSession: false });
    const rows: Row[] = [];
    const paths: [string, number, number, number][] = [
      ["direct", POSTGRES.port, REDIS.port, MARIADB.port],
      ["tcp proxy", agent.port("pgtcp"), agent.port("rdtcp"), agent.port("mytcp")],
      ["protocol proxy, no rule", agent.port("pgproto"), agent.port("rdproto"), agent.port("myproto")],
      ["protocol proxy, non-matching rule", agent.port("pgrule"), agent.port("rdrule"), agent.port("myrule")],
    ];
    const figures: Record<string, { pgTps: number; redisOps: number; mysqlQps: number }> = {};
    // the agent's CPU per request, summed over the rounds: what the noise of a shared machine
    // moves least (a rate also pays for every neighbour's turn on the cores)
    const cpu: Record<string, { pg: [number, number]; redis: [number, number]; mysql: [number, number] }> = {};
    const pid = agent.child.pid!;
    for (let r = 0; r < rounds; r++) {
      for (const [name, pgPort, rdPort, myPort] of paths) {
        const c = (cpu[name] ??= { pg: [0, 0], redis: [0, 0], mysql: [0, 0] });
        let t0 = cpuSeconds(pid);
        const tps = await pgbench(pgPort, seconds);
        let t1 = cpuSeconds(pid);
        c.pg = [c.pg[0] + t1 - t0, c.pg[1] + tps * seconds];
        t0 = t1;
        const ops = await redisBench(rdPort, n);
        t1 = cpuSeconds(pid);
        c.redis = [c.redis[0] + t1 - t0, c.redis[1] + 2 * n];
        t0 = t1;
        const qps = await mysqlslap(myPort, myQueries);
        t1 = cpuSeconds(pid);
        c.mysql = [c.mysql[0] + t1 - t0, c.mysql[1] + myQueries];
        const best = figures[name] ?? { pgTps: 0, redisOps: 0, mysqlQps: 0 };
        figures[name] = { pgTps: Math.max(best.pgTps, tps), redisOps: Math.max(best.redisOps, ops), mysqlQps: Math.max(best.mysqlQps, qps) };
      }
    }
    const tcp = figures["tcp proxy"]!;
    for (const [name] of paths) {
      const f = figures[name]!;
      rows.push({
        path: name,
        "pgbench -S tps": Math.round(f.pgTps),
        "vs tcp": round(f.pgTps / tcp.pgTps, 3),
        "redis -P 16 ops/s": Math.round(f.redisOps),
        "vs tcp ": round(f.redisOps / tcp.redisOps, 3),
        "mysqlslap q/s": Math.round(f.mysqlQps),
        "vs tcp  ": round(f.mysqlQps / tcp.mysqlQps, 3),
      });
    }
    const ratios = (name: string): number[] => {
      const f = figures[name]!;
      return [f.pgTps / tcp.pgTps, f.redisOps / tcp.redisOps, f.mysqlQps / tcp.mysqlQps];
    };
    const worst = Math.min(...ratios("protocol proxy, no rule"), ...ratios("protocol proxy, non-matching rule"));
    ctx.results.table("requests", {
      title: "7a. Request layer cost, databases (agent started by the CLI; pgbench -S -c 4 -j 2, redis-benchmark -P 16 -c 8 set,get, mysqlslap -c 4 SELECT 1)",
      columns: ["path", "pgbench -S tps", "vs tcp", "redis -P 16 ops/s", "vs tcp ", "mysqlslap q/s", "vs tcp  "],
      rows,
      notes: [`best of ${rounds} round(s) over the paths in turn; pgbench ${seconds} s, redis-benchmark ${n} requests per test, mysqlslap ${myQueries} queries`, `goal: a protocol proxy with no rule or a non-matching rule >= ${1 - GOAL} of the tcp proxy; worst ratio ${worst.toFixed(3)} (${worst >= 1 - GOAL ? "met" : "NOT met"})`, "2 shared cores: the load generators, the servers and the agent compete for them"],
    });
    ctx.results.figure("requests", "figures", figures);
    const us = (name: string, k: "pg" | "redis" | "mysql"): number => (cpu[name]![k][0] * 1e6) / cpu[name]![k][1];
    const proxied = paths.slice(1).map(([p]) => p);
    ctx.results.table("requests-cpu", {
      title: "7a'. The agent's CPU per request (user + system, all threads, from /proc), same runs",
      columns: ["path", "pgbench µs/tx", "x tcp", "redis µs/op", "x tcp ", "mysqlslap µs/q", "x tcp  "],
      rows: proxied.map((p) => ({
        path: p,
        "pgbench µs/tx": round(us(p, "pg"), 2),
        "x tcp": round(us(p, "pg") / us("tcp proxy", "pg"), 3),
        "redis µs/op": round(us(p, "redis"), 2),
        "x tcp ": round(us(p, "redis") / us("tcp proxy", "redis"), 3),
        "mysqlslap µs/q": round(us(p, "mysql"), 2),
        "x tcp  ": round(us(p, "mysql") / us("tcp proxy", "mysql"), 3),
      })),
      notes: ["/proc counts in 10 ms ticks: a few per cent of resolution at these volumes"],
    });
    ctx.results.figure("requests", "agentCpuMicros", Object.fromEntries(proxied.map((p) => [p, { pg: us(p, "pg"), redis: us(p, "redis"), mysql: us(p, "mysql") }])));
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

// ---- HTTP/1.1 and gRPC ----------------------------------------------------------------------

/** Which HTTP load generator this machine has: wrk (Debian's), else the bench's own (lib/http-load.ts). */
function httpClient(): "wrk" | "http-load" {
  return spawnSync("wrk", ["--version"], { encoding: "utf8" }).error ? "http-load" : "wrk";
}

const HTTP_LOAD = fileURLToPath(new URL("./lib/http-load.js", import.meta.url));
const CONNECTIONS = 32;

/** requests/s through 127.0.0.1:port, keep-alive, CONNECTIONS connections, from a process of its own. */
function httpRate(client: "wrk" | "http-load", port: number, seconds: number): number {
  if (client === "wrk") {
    const r = spawnSync("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, `http://127.0.0.1:${port}/hello`], { encoding: "utf8" });
    if (r.error) throw new Error(`wrk: ${r.error.message}`);
    const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
    if (!m) throw new Error(`wrk printed no rate: ${r.stdout} ${r.stderr}`);
    const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(r.stdout);
    if (errors) throw new Error(`wrk saw errors through port ${port}: ${errors[0]}`);
    return Number(m[1]);
  }
  const r = spawnSync(process.execPath, [HTTP_LOAD, String(port), String(seconds), String(CONNECTIONS)], { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new Error(`http-load through port ${port}: ${r.error?.message ?? r.stderr}`);
  const out = JSON.parse(r.stdout) as LoadResult;
  if (out.errors > 0) throw new Error(`http-load saw ${out.errors} errors through port ${port}`);
  return out.rate;
}

const NON_MATCHING = Array.from({ length: 10 }, (_, i) => ({
  match: { method: "POST", path: `/never/${i}/*`, header: { "x-test-user": `nobody-${i}` } },
  fail: { status: 503 },
}));

/** One rule of each answer fault, none matching (the path of an http proxy with answer rules). */
const NON_MATCHING_ANSWER = [
  { match: { path: "/never/truncate/*" }, truncate: 100 },
  { match: { path: "/never/malform/*" }, malform: "<html>" },
  { match: { path: "/never/throttle/*" }, throttle: "1Mbps" },
  { match: { path: "/never/limit/*" }, rateLimit: { rate: "10/s", burst: 10, per: "client" } },
];

/** "median (min..max)" of samples, rounded to `digits`. */
function spread(samples: number[], digits: number): string {
  return `${round(median(samples), digits)} (${round(Math.min(...samples), digits)}..${round(Math.max(...samples), digits)})`;
}

async function httpRows(ctx: BenchContext, seconds: number, rounds: number): Promise<{ rows: Row[]; notes: string[] }> {
  // the server runs in its own process, and so does the load generator
  const server = spawn(
    process.execPath,
    ["-e", `const s = require("http").createServer((q, r) => r.end("hello world\\n")); s.keepAliveTimeout = 60000; s.listen(0, "127.0.0.1", () => console.log(s.address().port));`],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const serverPort = await new Promise<number>((resolve, reject) => {
    server.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
    server.once("exit", (code) => reject(new Error(`http server exited (${code})`)));
  });
  const up = `127.0.0.1:${serverPort}`;
  // one agent process (the CLI) holds the three proxies: the paths differ only in the proxy
  const agent = await startCliAgentProxies([`tcp=127.0.0.1:0,${up}`, `web=127.0.0.1:0,${up},http`, `rules=127.0.0.1:0,${up},http`, `answer=127.0.0.1:0,${up},http`]);
  const ctl = agent.control;
  const client = httpClient();
  try {
    await ctl.apply("rules", undefined, { spec: { requests: NON_MATCHING } });
    await ctl.apply("answer", undefined, { spec: { requests: NON_MATCHING_ANSWER } });
    const TCP = "tcp proxy";
    const NO_RULE = "http proxy, no rule";
    const RULES = "http proxy, 10 non-matching rules";
    const ANSWER = "http proxy, 4 non-matching answer rules";
    const paths: [string, number][] = [
      ["direct", serverPort],
      [TCP, agent.port("tcp")],
      [NO_RULE, agent.port("web")],
      [RULES, agent.port("rules")],
      [ANSWER, agent.port("answer")],
    ];
    const rates = new Map<string, number[]>(paths.map(([p]) => [p, []]));
    // the agent's CPU time per request (user + system, from /proc): its own cost, which a busy
    // machine disturbs far less than the rate
    const cpuPerRequest = new Map<string, number[]>(paths.map(([p]) => [p, []]));
    const pid = agent.child.pid!;
    for (const [, port] of paths) httpRate(client, port, 1); // warm up every path (JIT, connections)
    // interleaved: every round measures every path, so a slow spell of the machine hits them all
    for (let r = 0; r < rounds; r++)
      for (const [name, port] of paths) {
        const before = procUsage(pid).cpuUs;
        const rate = httpRate(client, port, seconds);
        rates.get(name)!.push(rate);
        cpuPerRequest.get(name)!.push((procUsage(pid).cpuUs - before) / (rate * seconds));
      }
    // each round's ratio against that round's tcp proxy, then their median
    const ratios = (p: string): number[] => rates.get(p)!.map((v, i) => v / rates.get(TCP)![i]!);
    const rows: Row[] = paths.map(([p]) => ({
      path: p,
      "requests/s, median": Math.round(median(rates.get(p)!)),
      "min..max": `${Math.round(Math.min(...rates.get(p)!))}..${Math.round(Math.max(...rates.get(p)!))}`,
      "x tcp proxy, median (min..max)": p === "direct" ? null : spread(ratios(p), 3),
      "agent CPU us/request": p === "direct" ? null : spread(cpuPerRequest.get(p)!, 1),
    }));
    const worst = Math.min(median(ratios(NO_RULE)), median(ratios(RULES)), median(ratios(ANSWER)));
    ctx.results.figure("requests", "httpOverTcp", round(worst, 4));
    ctx.results.figure("requests", "httpRates", Object.fromEntries(rates));
    ctx.results.figure("requests", "httpClient", client);
    ctx.results.figure("requests", "httpAgentCpuUsPerRequest", Object.fromEntries([...cpuPerRequest].filter(([p]) => p !== "direct").map(([p, v]) => [p, round(median(v), 1)])));
    return {
      rows,
      notes: [
        `${rounds} interleaved rounds x ${seconds} s per path (direct, tcp, http no rule, http rules, http answer rules; repeated), ${client === "wrk" ? "wrk -t1" : "the bench's own client (test/bench/lib/http-load.ts, no wrk on this machine)"} -c${CONNECTIONS}; ratios are per round against that round's tcp proxy`,
        "one `netimpair agent` (CLI) holds all four proxies (the answer rules: truncate, malform, throttle, rateLimit, none matching); the node http server and the load generator each run in their own process, all on the same 2 cores",
        `goal: http proxies >= 0.90 x the tcp proxy (median ratio): ${round(worst, 3)} ${worst >= 0.9 ? "MET" : "MISSED"}`,
      ],
    };
  } finally {
    await agent.stop();
    server.kill("SIGTERM");
  }
}

const PROTO = `syntax = "proto3"; package bench; message M { int32 n = 1; } service S { rpc Call (M) returns (M); }`;
type Caller = grpc.Client & { Call(m: { n: number }, cb: (e: grpc.ServiceError | null) => void): void };

interface GrpcFigures {
  /** calls/s per round, by path */
  rates: Map<string, number[]>;
  /** the agent's CPU time per call (us) per round, by path (not for direct) */
  cpu: Map<string, number[]>;
}

const GRPC_TCP = "tcp proxy";
const GRPC_PROXY = "grpc proxy (HTTP/2 spliced), non-matching rule";
const GRPC_IN_FLIGHT = 16;

async function grpcRates(seconds: number, rounds: number): Promise<GrpcFigures> {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-bench-grpc-"));
  await writeFile(join(dir, "b.proto"), PROTO);
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, "b.proto"))) as unknown as {
    bench: { S: (new (a: string, c: grpc.ChannelCredentials, o?: grpc.ChannelOptions) => Caller) & { service: grpc.ServiceDefinition } };
  };
  const server = new grpc.Server();
  server.addService(pkg.bench.S.service, { Call: (c: grpc.ServerUnaryCall<{ n: number }, { n: number }>, cb: grpc.sendUnaryData<{ n: number }>) => cb(null, c.request) });
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const agent = await startCliAgentProxies([`tcp=127.0.0.1:0,127.0.0.1:${port}`, `rpc=127.0.0.1:0,127.0.0.1:${port},grpc`]);
  const pid = agent.child.pid!;
  await agent.control.apply("rpc", undefined, { spec: { requests: [{ match: { method: "/bench.Never/*" }, fail: { status: "UNAVAILABLE" } }] }, bindToSession: false });
  const paths: [string, number][] = [
    ["direct", port],
    [GRPC_TCP, agent.port("tcp")],
    [GRPC_PROXY, agent.port("rpc")],
  ];
  const figures: GrpcFigures = { rates: new Map(paths.map(([p]) => [p, []])), cpu: new Map(paths.map(([p]) => [p, []])) };
  const clients = new Map(paths.map(([p, target]) => [p, new pkg.bench.S(`127.0.0.1:${target}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 })]));
  try {
    const once1 = (c: Caller): Promise<void> => new Promise((res, rej) => c.Call({ n: 1 }, (e) => (e ? rej(e) : res())));
    for (const c of clients.values()) for (let i = 0; i < 200; i++) await once1(c);
    // interleaved rounds, as for HTTP: every round measures every path
    for (let r = 0; r < rounds; r++) {
      for (const [name] of paths) {
        const c = clients.get(name)!;
        const before = procUsage(pid).cpuUs;
        let done = 0;
        const end = performance.now() + seconds * 1000;
        await Promise.all(
          Array.from({ length: GRPC_IN_FLIGHT }, async () => {
            while (performance.now() < end) {
              await once1(c);
              done++;
            }
          }),
        );
        figures.rates.get(name)!.push(done / seconds);
        if (name !== "direct") figures.cpu.get(name)!.push((procUsage(pid).cpuUs - before) / done);
      }
    }
  } finally {
    for (const c of clients.values()) c.close();
    await agent.stop();
    server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  }
  return figures;
}

async function httpTable(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 2 : 5;
  const { rows, notes } = await httpRows(ctx, seconds, ctx.quick ? 3 : 5);
  ctx.results.table("requests-http", {
    title: "7b. HTTP/1.1 requests/s (32 keep-alive connections, 12-byte answers)",
    columns: ["path", "requests/s, median", "min..max", "x tcp proxy, median (min..max)", "agent CPU us/request"],
    rows,
    notes,
  });
}

async function grpcTable(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 2 : 5;
  const rounds = ctx.quick ? 3 : 5;
  const g = await grpcRates(seconds, rounds);
  const tcp = g.rates.get(GRPC_TCP)!;
  const ratios = (p: string): number[] => g.rates.get(p)!.map((v, i) => v / tcp[i]!);
  const rateRatio = median(ratios(GRPC_PROXY));
  const cpuRatio = median(g.cpu.get(GRPC_PROXY)!) / median(g.cpu.get(GRPC_TCP)!);
  const met = rateRatio >= 0.85 && cpuRatio <= 5;
  ctx.results.table("requests-grpc", {
    title: `7c. gRPC unary calls/s (grpc-js, ${GRPC_IN_FLIGHT} in flight on one channel)`,
    columns: ["path", "calls/s, median", "min..max", "x tcp proxy, median (min..max)", "agent CPU us/call"],
    rows: [...g.rates.entries()].map(([p, v]) => ({
      path: p,
      "calls/s, median": Math.round(median(v)),
      "min..max": `${Math.round(Math.min(...v))}..${Math.round(Math.max(...v))}`,
      "x tcp proxy, median (min..max)": p === "direct" ? null : spread(ratios(p), 3),
      "agent CPU us/call": p === "direct" ? null : spread(g.cpu.get(p)!, 1),
    })),
    notes: [
      `${rounds} interleaved rounds x ${seconds} s per path; ratios per round against that round's tcp proxy`,
      "client and server (grpc-js) in the bench process, the agent (CLI) in its own; the grpc row is the cost of reading every frame and header block",
      `goal (issue 27): grpc proxy >= 0.85x the tcp proxy's calls/s and <= 5x its agent CPU per call; here ${rateRatio.toFixed(2)}x and ${cpuRatio.toFixed(1)}x (${met ? "met" : "NOT met"})`,
    ],
  });
  ctx.results.figure("requests", "grpcOverTcp", round(rateRatio, 4));
  ctx.results.figure("requests", "grpcCpuOverTcp", round(cpuRatio, 2));
  ctx.results.figure("requests", "grpcAgentCpuUsPerCall", Object.fromEntries([...g.cpu].filter(([p]) => p !== "direct").map(([p, v]) => [p, round(median(v), 1)])));
}

export async function requests(ctx: BenchContext): Promise<void> {
  await databaseRows(ctx);
  await httpTable(ctx);
  await grpcTable(ctx);
}

/** 7a alone (`npm run bench -- requests-db`): the database protocols. */
export const requestsDb = databaseRows;
/** 7b alone (`npm run bench -- requests-http`). */
export const requestsHttp = httpTable;
/** 7c alone (`npm run bench -- requests-grpc`). */
export const requestsGrpc = grpcTable;
