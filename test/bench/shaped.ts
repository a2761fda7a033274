// 8. The shaped path side by side (issue 27): `netimpair agent` as the CLI starts it, a bare node
// relay carrying the same (paced) rate, and Toxiproxy (when TOXIPROXY_BIN names its server),
// measured in interleaved rounds on the same cases:
//   20 ms each way, one stream up / down (iperf3, flat out);
//   100 Mbps each way, one stream up / down (iperf3; the bare relay carries iperf3 -b 100M);
//   200 connections x 1 Mbps down (the bench's own upstream and clients in worker processes;
//   the upstream sends 4 Mbps per connection, so the link is always the bottleneck; the bare
//   relay carries an upstream paced at 1 Mbps per connection);
//   the added delay of the 20 ms link at p50 (sequential 64-byte ping-pongs, minus the bare hop).
// Relay CPU = user + system of the relay process (/proc), per GB relayed, after WARM_S of the
// same load unmeasured (the 200-connection case measures from 2 s after all of them relay). With `--load` a busy
// loop per core runs beside (cpu-load.ts): the fidelity goals are checked under it.
// SHAPED_CASES=fanout,probe (any of iperf, fanout, probe) runs only those cases' kinds.
import type { Socket } from "node:net";
import { cleanSpec, type ImpairmentSpec } from "../../src/profiles/types.js";
import type { BenchContext } from "./lib/context.js";
import { haveIperf3, iperfClient, iperfServer } from "./lib/iperf.js";
import { Worker } from "./lib/ipc.js";
import { procUsage } from "./lib/proc.js";
import { startRelay } from "./lib/relay.js";
import type { Row } from "./lib/report.js";
import { dial, echo, sleep } from "./lib/sockets.js";
import { median, quantile, round } from "./lib/stats.js";
import { checkToxiproxyBin, startToxiproxy, toxiproxyBin, type Toxic } from "./lib/toxiproxy.js";

type RelayName = "bare relay" | "agent" | "toxiproxy";
type Dir = "up" | "down";

interface Running {
  port: number;
  cpuUs(): Promise<number>;
  /** major GCs so far (the agent's /metrics), null when not known */
  majorGcs(): Promise<number | null>;
  stop(): Promise<void>;
}

interface Case {
  name: string;
  load: "iperf" | "fanout" | "probe";
  dirs: Dir[];
  spec(): ImpairmentSpec;
  toxics: Toxic[];
  /** the rate the bare relay carries (paced by the sender), null = flat out */
  bareBps: number | null;
  /** the configured rate per connection (bits/s), for the fidelity checks */
  bps: number | null;
}

const DELAY_MS = 20;
/** seconds each relay carries an iperf3 case before the measured run (steady state, as users run it) */
const WARM_S = 1;
const FANOUT = 200;
const FANOUT_BPS = 1e6;

function spec(f: (d: ImpairmentSpec["up"]) => void): () => ImpairmentSpec {
  return () => {
    const s = cleanSpec();
    s.share = "connection";
    f(s.up);
    f(s.down);
    return s;
  };
}

const both = (type: Toxic["type"], attributes: Record<string, number>): Toxic[] => [
  { type, stream: "upstream", attributes },
  { type, stream: "downstream", attributes },
];

const ALL_CASES: Case[] = [
  { name: "20 ms each way", load: "iperf", dirs: ["up", "down"], spec: spec((d) => (d.delay = DELAY_MS)), toxics: both("latency", { latency: DELAY_MS, jitter: 0 }), bareBps: null, bps: null },
  { name: "100 Mbps each way", load: "iperf", dirs: ["up", "down"], spec: spec((d) => (d.bandwidth = 100e6)), toxics: both("bandwidth", { rate: 100e6 / 8000 }), bareBps: 100e6, bps: 100e6 },
  { name: `${FANOUT} x 1 Mbps`, load: "fanout", dirs: ["down"], spec: spec((d) => (d.bandwidth = FANOUT_BPS)), toxics: both("bandwidth", { rate: FANOUT_BPS / 8000 }), bareBps: FANOUT_BPS, bps: FANOUT_BPS },
  { name: "20 ms each way, delay probe", load: "probe", dirs: ["up"], spec: spec((d) => (d.delay = DELAY_MS)), toxics: both("latency", { latency: DELAY_MS, jitter: 0 }), bareBps: null, bps: null },
];

const only = process.env.SHAPED_CASES?.split(",").map((x) => x.trim()) ?? null;
const CASES = only === null ? ALL_CASES : ALL_CASES.filter((c) => only.includes(c.load));

async function start(relay: RelayName, c: Case, upstreamPort: number): Promise<Running> {
  if (relay === "toxiproxy") {
    const t = await startToxiproxy(toxiproxyBin()!, upstreamPort, c.toxics);
    return { port: t.port, cpuUs: async () => t.cpuUs(), majorGcs: async () => null, stop: t.stop };
  }
  const r = relay === "agent" ? await startRelay("agent", upstreamPort, c.spec()) : await startRelay("bare", upstreamPort);
  const usage = async (): Promise<{ cpuUs: number; majorGcs: number }> => (await r.usage())!;
  return {
    port: r.port,
    // from /proc alone: the agent's usage() also scrapes its /metrics, CPU it would count
    cpuUs: async () => procUsage(r.pid).cpuUs,
    majorGcs: async () => {
      const m = (await usage()).majorGcs;
      return Number.isFinite(m) ? m : null;
    },
    stop: () => r.stop(),
  };
}

/** One measurement: bytes relayed, seconds, relay CPU; per-connection rates (fanout); RTTs (probe). */
interface Sample {
  bytes: number;
  seconds: number;
  cpuUs: number;
  majorGcs: number | null;
  /** fanout: each connection's rate, bits/s */
  rates?: number[];
  /** probe: round-trip times, ms */
  rtts?: number[];
}

/** iperf3 -c, again while the server is still finishing the test before (it serves one at a time). */
async function iperfRetry(port: number, seconds: number, reverse: boolean, bps: number | null): Promise<{ bytes: number; seconds: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await iperfClient(port, seconds, reverse, bps);
    } catch (err) {
      // the server still finishing the test before: "busy", or the new control connection reset
      if (attempt >= 20 || !/busy|unable to send cookie/.test(String(err))) throw err;
      await sleep(250);
    }
  }
}

async function measureIperf(r: Running, dir: Dir, seconds: number, bps: number | null): Promise<Sample> {
  // the relays run for hours where users run them: each carries the case for WARM_S first,
  // unmeasured (the agent's JIT compiles its hot paths then, 10-20 % of a 2 s round's CPU)
  await iperfRetry(r.port, WARM_S, dir === "down", bps);
  // the /metrics scrape that counts GCs costs the agent CPU: done before the CPU count starts
  // and after it ends, so the figures carry only the relaying
  const g0 = await r.majorGcs();
  const c0 = await r.cpuUs();
  const res = await iperfRetry(r.port, seconds, dir === "down", bps);
  const c1 = await r.cpuUs();
  const g1 = await r.majorGcs();
  return { bytes: res.bytes, seconds: res.seconds, cpuUs: c1 - c0, majorGcs: g0 !== null && g1 !== null ? g1 - g0 : null };
}

async function measureFanout(r: Running, clients: Worker, windowMs: number): Promise<Sample> {
  await clients.call("open", { port: r.port, count: FANOUT });
  // until every connection is relaying (a busy machine accepts 200 slowly), then queues fill
  const deadline = performance.now() + 30_000;
  while ((await clients.call<{ bytes: number[] }>("counts")).bytes.some((b) => b === 0) && performance.now() < deadline) await sleep(250);
  await sleep(2000);
  const a = await clients.call<{ at: number; bytes: number[] }>("counts");
  const g0 = await r.majorGcs(); // (before the CPU count: see measureIperf)
  const c0 = await r.cpuUs();
  await sleep(windowMs);
  const b = await clients.call<{ at: number; bytes: number[] }>("counts");
  const c1 = await r.cpuUs();
  const g1 = await r.majorGcs();
  const seconds = (b.at - a.at) / 1000;
  const rates = b.bytes.map((x, i) => ((x - a.bytes[i]!) * 8) / seconds);
  const bytes = b.bytes.reduce((s, x, i) => s + x - a.bytes[i]!, 0);
  return { bytes, seconds, cpuUs: c1 - c0, majorGcs: g0 !== null && g1 !== null ? g1 - g0 : null, rates };
}

/** Sequential 64-byte ping-pongs; ms each. */
function pingPong(s: Socket, n: number): Promise<number[]> {
  const payload = Buffer.alloc(64, 1);
  const times: number[] = [];
  return new Promise((resolve, reject) => {
    let got = 0;
    let t0 = 0;
    const send = (): void => {
      got = 0;
      t0 = performance.now();
      s.write(payload);
    };
    const onData = (c: Buffer): void => {
      got += c.length;
      if (got < payload.length) return;
      times.push(performance.now() - t0);
      if (times.length >= n) {
        s.off("data", onData);
        resolve(times);
      } else setTimeout(send, 2);
    };
    s.on("data", onData);
    s.once("close", () => reject(new Error("connection closed during ping-pong")));
    send();
  });
}

async function measureProbe(r: Running, n: number): Promise<Sample> {
  const s = await dial(r.port);
  try {
    await pingPong(s, 5);
    return { bytes: 0, seconds: 0, cpuUs: 0, majorGcs: null, rtts: await pingPong(s, n) };
  } finally {
    s.destroy();
  }
}

export async function shaped(ctx: BenchContext): Promise<void> {
  if (!haveIperf3()) throw new Error("the shaped benchmark needs iperf3 (apt-get install iperf3)");
  const tox = toxiproxyBin();
  if (tox !== null) checkToxiproxyBin(tox);
  const rounds = ctx.rounds ?? (ctx.quick ? 1 : 5);
  const seconds = ctx.quick ? 2 : 5;
  const probes = ctx.quick ? 30 : 60;
  const relays: RelayName[] = ["bare relay", "agent", ...(toxiproxyBin() !== null ? (["toxiproxy"] as const) : [])];
  const samples = new Map<string, Sample[]>();
  const key = (c: Case, r: RelayName, d: Dir): string => `${c.name}|${r}|${d}`;
  const add = (k: string, s: Sample): void => void samples.set(k, [...(samples.get(k) ?? []), s]);

  const iperf = await iperfServer(false);
  const echoServer = await echo();
  const upstream = await Worker.start("fanout upstream", new URL("./lib/fanout-worker.js", import.meta.url));
  const pacedUpstream = await Worker.start("paced fanout upstream", new URL("./lib/fanout-worker.js", import.meta.url));
  try {
    const flatPort = (await upstream.call<{ port: number }>("listen", { bps: 4 * FANOUT_BPS })).port;
    const pacedPort = (await pacedUpstream.call<{ port: number }>("listen", { bps: FANOUT_BPS })).port;
    for (let round = 0; round < rounds; round++) {
      for (const c of CASES) {
        for (const relay of relays) {
          const target = c.load === "iperf" ? iperf.port : c.load === "probe" ? echoServer.port : relay === "bare relay" ? pacedPort : flatPort;
          const r = await start(relay, c, target);
          try {
            for (const d of c.dirs) {
              if (c.load === "iperf") add(key(c, relay, d), await measureIperf(r, d, seconds, relay === "bare relay" ? c.bareBps : null));
              else if (c.load === "probe") add(key(c, relay, d), await measureProbe(r, probes));
              else {
                const clients = await Worker.start("fanout clients", new URL("./lib/fanout-worker.js", import.meta.url));
                try {
                  add(key(c, relay, d), await measureFanout(r, clients, seconds * 1000));
                } finally {
                  await clients.stop();
                }
              }
            }
          } finally {
            await r.stop();
          }
        }
      }
    }
  } finally {
    await upstream.stop();
    await pacedUpstream.stop();
    await iperf.close();
    await echoServer.close();
  }

  const rows: Row[] = [];
  const goals: string[] = [];
  const stat = (xs: number[]): { med: number; min: number; max: number } => ({ med: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
  const cpuPerGB = (s: Sample): number => s.cpuUs / 1e6 / (s.bytes / 1e9);
  for (const c of CASES.filter((x) => x.load !== "probe")) {
    for (const d of c.dirs) {
      const toxCpu = samples.has(key(c, "toxiproxy", d)) ? median(samples.get(key(c, "toxiproxy", d))!.map(cpuPerGB)) : null;
      const bareCpu = median(samples.get(key(c, "bare relay", d))!.map(cpuPerGB));
      for (const relay of relays) {
        const ss = samples.get(key(c, relay, d))!;
        const cpu = median(ss.map(cpuPerGB));
        const gcs = ss.every((s) => s.majorGcs !== null) ? median(ss.map((s) => s.majorGcs! / (s.bytes / 1e9))) : null;
        const row: Row = { case: c.name, dir: d, relay, "CPU s/GB": round(cpu, 2), "CPU range": `${round(Math.min(...ss.map(cpuPerGB)), 2)}-${round(Math.max(...ss.map(cpuPerGB)), 2)}` };
        row["x bare"] = round(cpu / bareCpu, 2);
        row["x toxiproxy"] = toxCpu === null ? null : round(cpu / toxCpu, 2);
        row["major GC/GB"] = gcs === null ? null : round(gcs, 1);
        if (c.load === "iperf") {
          const rate = stat(ss.map((s) => (s.bytes * 8) / s.seconds / 1e6));
          row.rate = c.bps === null ? `${round(rate.med / 8000, 3)} GB/s` : `${round(rate.med, 1)} Mbps`;
          row["rate min-max"] = c.bps === null ? `${round(rate.min / 8000, 3)}-${round(rate.max / 8000, 3)}` : `${round(rate.min, 1)}-${round(rate.max, 1)}`;
          if (c.bps !== null && relay !== "bare relay") {
            const worst = Math.max(...ss.map((s) => Math.abs((s.bytes * 8) / s.seconds / c.bps! - 1) * 100));
            row.fidelity = `worst round ${round(worst, 1)} % off`;
            if (relay === "agent") goals.push(`${c.name} ${d}: every round within 2 %: ${worst <= 2 ? "MET" : "MISSED"} (worst ${round(worst, 2)} %)`);
          }
        } else {
          const p5 = ss.map((s) => quantile(s.rates!, 0.05) / 1e6);
          const p50 = ss.map((s) => quantile(s.rates!, 0.5) / 1e6);
          const p95 = ss.map((s) => quantile(s.rates!, 0.95) / 1e6);
          row.rate = `p5/p50/p95 ${round(median(p5), 3)}/${round(median(p50), 3)}/${round(median(p95), 3)} Mbps`;
          row["rate min-max"] = `worst p5 ${round(Math.min(...p5), 3)}`;
          if (relay === "agent") goals.push(`${c.name}: p5 >= 0.97 Mbps in every round: ${Math.min(...p5) >= 0.97 ? "MET" : "MISSED"} (worst ${round(Math.min(...p5), 3)})`);
        }
        if (relay === "agent" && toxCpu !== null) goals.push(`${c.name} ${d}: CPU/GB <= Toxiproxy's: ${cpu <= toxCpu ? "MET" : "MISSED"} (${round(cpu / toxCpu, 2)}x)`);
        rows.push(row);
      }
    }
  }
  const probe = CASES.find((x) => x.load === "probe");
  if (probe !== undefined) {
  const hop = median(samples.get(key(probe, "bare relay", "up"))!.map((s) => median(s.rtts!)));
  for (const relay of relays) {
    const p50s = samples.get(key(probe, relay, "up"))!.map((s) => median(s.rtts!));
    const row: Row = { case: probe.name, dir: "rtt", relay, rate: `rtt p50 ${round(median(p50s), 2)} ms` };
    if (relay !== "bare relay") {
      const errs = p50s.map((p) => (p - hop - 2 * DELAY_MS) / 2);
      row.fidelity = `added delay each way p50 ${round(DELAY_MS + median(errs), 2)} ms (worst round ${round(DELAY_MS + errs.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a)), 2)})`;
      if (relay === "agent") goals.push(`added delay within 1 ms of ${DELAY_MS} ms at p50: ${Math.abs(median(errs)) <= 1 ? "MET" : "MISSED"} (${round(median(errs), 2)} ms)`);
    }
    rows.push(row);
  }
  }
  ctx.results.table("shaped", {
    title: `8. Shaped path beside a bare relay${relays.includes("toxiproxy") ? " and Toxiproxy" : ""}${ctx.load ? " (with a busy loop per core)" : ""}`,
    columns: ["case", "dir", "relay", "CPU s/GB", "CPU range", "x bare", "x toxiproxy", "major GC/GB", "rate", "rate min-max", "fidelity"],
    rows,
    notes: [
      `median of ${rounds} interleaved round(s), ${seconds} s each after ${WARM_S} s of the same load unmeasured; CPU s/GB = user + system of the relay process (/proc) per GB relayed; x bare / x toxiproxy = this CPU/GB over theirs`,
      "agent = `netimpair agent --proxy` (the CLI) with the link applied per connection; bare relay = net + pipe carrying the same rate (iperf3 -b, or an upstream paced per connection), flat out on the 20 ms case",
      `toxiproxy = ${toxiproxyBin() ?? "not run (set TOXIPROXY_BIN to its server)"}, latency / bandwidth toxics on both streams`,
      "delay probe: 64-byte ping-pongs 2 ms apart; added delay each way = (rtt p50 - the bare relay's p50) / 2",
      ...goals.map((g) => `goal: ${g}`),
    ],
  });
  ctx.results.figure("shaped", "samples", Object.fromEntries([...samples].map(([k, v]) => [k, v.map((s) => ({ ...s, rates: s.rates ? [quantile(s.rates, 0.05), quantile(s.rates, 0.5), quantile(s.rates, 0.95)] : undefined }))])));
  ctx.results.figure("shaped", "competingLoad", ctx.load);
}
