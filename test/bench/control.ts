// 6. Control: (a) time from `impair.apply` sent to the new link behaviour seen on a live
// connection: the upstream sends an 8-byte probe every millisecond through an agent (its own
// process) and the client notes each probe's one-way delay; the apply adds 100 ms of down
// delay; the latency is the send time of the first delayed probe minus the time the apply was
// sent; for the clear, until the bytes it held arrive. Goal: < 50 ms. (b) apply fan-out to 50 agents run in 5
// worker processes: wall time for one apply to reach all of them, and per-agent latency.
import type { Socket } from "node:net";
import { connect, type ControlClient } from "../../src/index.js";
import type { BenchContext } from "./lib/context.js";
import { Worker } from "./lib/ipc.js";
import type { StartedAgent } from "./lib/agent-worker.js";
import { Upstream } from "./lib/link-probe.js";
import type { Row } from "./lib/report.js";
import { sink, sleep } from "./lib/sockets.js";
import { quantile, round } from "./lib/stats.js";

const AGENT_WORKER = new URL("./lib/agent-worker.js", import.meta.url);
const GOAL_MS = 50;
const APPLIED_DELAY_MS = 100;

/** Probes every ms from `from` to `to`; reports each probe's send time and one-way delay. */
interface Probe {
  sent: number;
  arrived: number;
  delay: number;
}

function ticker(from: Socket, to: Socket): { probes: Probe[]; stop(): void } {
  const sent: number[] = [];
  const probes: Probe[] = [];
  let pending: Buffer = Buffer.alloc(0);
  to.on("data", (c: Buffer) => {
    const now = performance.now();
    pending = pending.length ? Buffer.concat([pending, c]) : c;
    while (pending.length >= 8) {
      const seq = pending.readUInt32BE(0);
      pending = pending.subarray(8);
      probes.push({ sent: sent[seq]!, arrived: now, delay: now - sent[seq]! });
    }
  });
  let seq = 0;
  const timer = setInterval(() => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(seq, 0);
    sent[seq++] = performance.now();
    from.write(b);
  }, 1);
  return { probes, stop: () => clearInterval(timer) };
}

/**
 * ms from t0 to the first probe that shows the change: `at` picks which time of it counts (for
 * an added delay, when it was sent; for a clear, when the held bytes arrived).
 */
async function effectAfter(probes: Probe[], t0: number, test: (d: number) => boolean, at: "sent" | "arrived", timeoutMs: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    const hit = probes.find((p) => p.arrived >= t0 && test(p.delay));
    if (hit) return hit[at] - t0;
    if (performance.now() - start > timeoutMs) return NaN;
    await sleep(20);
  }
}

async function applyLatency(rounds: number): Promise<Row[]> {
  const upstream = await Upstream.start();
  const worker = await Worker.start("agent", AGENT_WORKER);
  let ctl: ControlClient | null = null;
  try {
    const [agent] = await worker.call<StartedAgent[]>("start", { count: 1, upstreamPort: upstream.port });
    ctl = await connect(agent!.url, { bindToSession: false });
    const pair = await upstream.pair(agent!.proxyPort);
    const tick = ticker(pair.server, pair.client);
    await sleep(200);
    const apply: number[] = [];
    const applyRpc: number[] = [];
    const clear: number[] = [];
    const clearRpc: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const ta = performance.now();
      await ctl.apply("bench", undefined, { set: { "down.delay": `${APPLIED_DELAY_MS}ms` } });
      applyRpc.push(performance.now() - ta);
      apply.push(await effectAfter(tick.probes, ta, (d) => d >= APPLIED_DELAY_MS * 0.9, "sent", 5000));
      await sleep(300);
      const tc = performance.now();
      await ctl.clear("bench");
      clearRpc.push(performance.now() - tc);
      clear.push(await effectAfter(tick.probes, tc, (d) => d < 10, "arrived", 5000));
      await sleep(150);
    }
    tick.stop();
    pair.client.destroy();
    pair.server.destroy();
    const row = (what: string, effect: number[], rpc: number[]): Row => ({
      change: what,
      rounds: effect.length,
      "effect p50 ms": round(quantile(effect, 0.5), 2),
      "effect max ms": round(Math.max(...effect), 2),
      "rpc p50 ms": round(quantile(rpc, 0.5), 2),
      "rpc max ms": round(Math.max(...rpc), 2),
      goal: Math.max(...effect) < GOAL_MS ? "MET" : "MISSED",
    });
    return [row(`apply down.delay=${APPLIED_DELAY_MS}ms`, apply, applyRpc), row("clear", clear, clearRpc)];
  } finally {
    await ctl?.close();
    await worker.call("closeAll").catch(() => {});
    await worker.stop();
    await upstream.close();
  }
}

async function fanOut(agentsTotal: number, processes: number, rounds: number): Promise<Row[]> {
  const target = await sink();
  const workers = await Promise.all(Array.from({ length: processes }, (_, i) => Worker.start(`agents ${i}`, AGENT_WORKER)));
  const clients: ControlClient[] = [];
  try {
    const per = Math.ceil(agentsTotal / processes);
    const started = (await Promise.all(workers.map((w, i) => w.call<StartedAgent[]>("start", { count: Math.min(per, agentsTotal - i * per), upstreamPort: target.port })))).flat();
    const tc = performance.now();
    clients.push(...(await Promise.all(started.map((a) => connect(a.url, { bindToSession: false })))));
    const connectMs = performance.now() - tc;
    const walls: Record<string, number[]> = { apply: [], clear: [] };
    const each: Record<string, number[]> = { apply: [], clear: [] };
    for (let r = 0; r < rounds; r++) {
      for (const op of ["apply", "clear"] as const) {
        const t0 = performance.now();
        await Promise.all(
          clients.map(async (c) => {
            if (op === "apply") await c.apply("bench", "slow-3g");
            else await c.clear("bench");
            each[op]!.push(performance.now() - t0);
          }),
        );
        walls[op]!.push(performance.now() - t0);
        await sleep(50);
      }
    }
    return (["apply", "clear"] as const).map((op) => ({
      operation: op === "apply" ? "apply slow-3g" : "clear",
      agents: clients.length,
      processes,
      "connect all ms": round(connectMs, 1),
      "all done p50 ms": round(quantile(walls[op]!, 0.5), 1),
      "all done max ms": round(Math.max(...walls[op]!), 1),
      "per agent p50 ms": round(quantile(each[op]!, 0.5), 1),
      "per agent p99 ms": round(quantile(each[op]!, 0.99), 1),
    }));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(workers.map((w) => w.call("closeAll").catch(() => {})));
    await Promise.all(workers.map((w) => w.stop()));
    await target.close();
  }
}

export async function control(ctx: BenchContext): Promise<void> {
  const rounds = ctx.quick ? 5 : 20;
  ctx.results.table("control", {
    title: "6a. Control: impair.apply sent -> new link behaviour on a live connection",
    columns: ["change", "rounds", "effect p50 ms", "effect max ms", "rpc p50 ms", "rpc max ms", "goal"],
    rows: await applyLatency(rounds),
    notes: [
      "probes: 8 bytes every ms, upstream -> client. apply effect = send time of the first probe delayed >= 90 ms minus the time the request was sent",
      "clear effect = arrival of the first probe delayed < 10 ms (the held bytes released) minus the time the request was sent; rpc = request to response",
      `goal: < ${GOAL_MS} ms`,
    ],
  });
  ctx.results.table("control", {
    title: "6b. Control: apply fan-out to many agents on one machine",
    columns: ["operation", "agents", "processes", "connect all ms", "all done p50 ms", "all done max ms", "per agent p50 ms", "per agent p99 ms"],
    rows: await fanOut(50, 5, ctx.quick ? 3 : 10),
    notes: ["one ControlClient per agent from this process, all requests sent at once; all done = until the last response"],
  });
}
