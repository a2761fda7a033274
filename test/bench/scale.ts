// 3. Scale: many concurrent idle connections through a relay, then some of them busy.
// Memory per idle connection (relay RSS and heap after GC, before vs after) and CPU per GB
// relayed. Clients run in a worker process, the upstream sink in this one, the relay in its
// own: the open-file limit (20,000 here) then bounds only the relay, which needs two file
// descriptors per connection, so a few of 10,000 may fail with EMFILE: that is counted, never
// fatal, and per-connection figures use the connections actually open.
import type { BenchContext } from "./lib/context.js";
import { Worker } from "./lib/ipc.js";
import type { OpenResult } from "./lib/load-worker.js";
import { PATH_LEGEND, startRelay, tenGbpsSpec, type RelayKind, type Usage } from "./lib/relay.js";
import type { Row } from "./lib/report.js";
import { sink, sleep } from "./lib/sockets.js";
import { round } from "./lib/stats.js";
import type { ImpairmentSpec } from "../../src/profiles/types.js";

const IDLE_GOAL_KB = 12;
const LOAD_WORKER = new URL("./lib/load-worker.js", import.meta.url);

interface Variant {
  label: string;
  kind: RelayKind;
  spec: ImpairmentSpec | null;
}

const VARIANTS: Variant[] = [
  { label: "bare relay", kind: "bare", spec: null },
  { label: "engine clean", kind: "engine", spec: null },
  { label: "engine 10Gbps", kind: "engine", spec: tenGbpsSpec() },
  { label: "agent clean", kind: "agent", spec: null },
  { label: "agent 10Gbps", kind: "agent", spec: tenGbpsSpec() },
];

function errorsText(...maps: Record<string, number>[]): string {
  const all: Record<string, number> = {};
  for (const m of maps) for (const [k, v] of Object.entries(m)) all[k] = (all[k] ?? 0) + v;
  const parts = Object.entries(all).map(([k, v]) => `${k} x${v}`);
  return parts.length ? parts.join(", ") : "none";
}

async function measure(v: Variant, idle: number, busy: number, busyMs: number): Promise<Row> {
  const upstream = await sink();
  const relay = await startRelay(v.kind, upstream.port, v.spec);
  const load = await Worker.start("load", LOAD_WORKER);
  try {
    const base = (await relay.gc())!;
    const t0 = performance.now();
    const opened = await load.call<OpenResult>("open", { port: relay.port, count: idle, batch: 250 });
    const openSec = (performance.now() - t0) / 1000;
    await sleep(1500);
    const alive = await load.call<{ alive: number; closedEarly: number; errors: Record<string, number> }>("alive");
    const after = (await relay.gc())!;
    // the agent's count comes from its /metrics, which it cannot serve at its open-file limit
    const relayConns = Number.isNaN(after.connections) ? alive.alive : after.connections;
    const n = Math.min(alive.alive, relayConns) || 1;
    const heapPerConn = (after.heapUsed + after.external - base.heapUsed - base.external) / 1024 / n;

    const u0: Usage = (await relay.usage())!;
    const b0 = upstream.bytes();
    const tb = performance.now();
    const busyRes = await load.call<{ written: number; writers: number }>("busy", { count: busy, ms: busyMs, chunk: 16 * 1024 });
    const u1: Usage = (await relay.usage())!;
    const seconds = (performance.now() - tb) / 1000;
    const bytes = upstream.bytes() - b0;
    const cpuSec = (u1.cpuUs - u0.cpuUs) / 1e6;
    return {
      relay: v.label,
      target: idle,
      open: relayConns,
      "open/s": Math.round(opened.opened / openSec),
      "rss KB/conn": round((after.rss - base.rss) / 1024 / n, 2),
      "heap KB/conn": Number.isNaN(heapPerConn) ? null : round(heapPerConn, 2),
      busy: busyRes.writers,
      "busy MB/s": round(bytes / seconds / 1e6, 1),
      "relay CPU %": round((cpuSec / seconds) * 100, 1),
      "CPU s/GB": round(cpuSec / (bytes / 1e9), 3),
      errors: errorsText(alive.errors, after.errors),
      goal: (after.rss - base.rss) / 1024 / n <= IDLE_GOAL_KB ? "MET" : "MISSED",
    };
  } finally {
    await load.call("closeAll").catch(() => {});
    await load.stop();
    await relay.stop();
    await upstream.close();
  }
}

export async function scale(ctx: BenchContext): Promise<void> {
  const idle = ctx.quick ? 2000 : 10_000;
  const busy = ctx.quick ? 200 : 1000;
  const busyMs = ctx.quick ? 2000 : 5000;
  const rows: Row[] = [];
  for (const v of VARIANTS) rows.push(await measure(v, idle, busy, busyMs));
  const bareCpu = rows.find((r) => r.relay === "bare relay")?.["CPU s/GB"];
  for (const r of rows) r["CPU x bare"] = typeof bareCpu === "number" && typeof r["CPU s/GB"] === "number" ? round(bareCpu / r["CPU s/GB"], 3) : null;
  ctx.results.table("scale", {
    title: `3. Scale: ${idle} idle connections, then ${busy} of them busy`,
    columns: ["relay", "target", "open", "open/s", "rss KB/conn", "heap KB/conn", "busy", "busy MB/s", "relay CPU %", "CPU s/GB", "CPU x bare", "errors", "goal"],
    rows,
    notes: [
      PATH_LEGEND,
      "rss/heap KB/conn: relay process with the connections open minus before, over the connections open (heap includes external buffers); bare and engine after a forced GC, the agent as found (it runs as users run it, without --expose-gc)",
      `busy: ${busy} connections each writing 16 KiB chunks flat out for ${busyMs} ms; MB/s = bytes reaching the upstream sink; CPU s/GB = relay CPU time (/proc) per 1e9 bytes; CPU x bare = the bare relay's CPU s/GB over this one's (above 1 = cheaper)`,
      `goal: <= ${IDLE_GOAL_KB} KB per idle connection (rss). Relay open-file limit 20,000 = 2 per connection, so EMFILE may show near 10,000`,
    ],
  });
}
