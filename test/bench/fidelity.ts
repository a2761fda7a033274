// 5. Fidelity: for every built-in link profile, configured vs measured bandwidth each way,
// one-way delay, jitter spread, and smoothness (the largest gap, in ms, between the ideal
// delivery curve at the configured rate and the real one; the largest single read). Then the
// same for 3 rates x 3 delays. netimpair runs in its own process; both ends share this one's
// clock. Goal: within 2 % and 2 ms; data arrives segment by segment, not in clumps.
import { ProfileRegistry } from "../../src/profiles/registry.js";
import { resolveImpairment } from "../../src/profiles/resolve.js";
import { cleanSpec, isCleanDirection, type ImpairmentSpec } from "../../src/profiles/types.js";
import { formatBandwidth } from "../../src/units.js";
import type { BenchContext } from "./lib/context.js";
import { measureLink, type LinkMeasurement, type MeasureOptions } from "./lib/link-measure.js";
import type { Dir } from "./lib/link-probe.js";
import type { Row } from "./lib/report.js";
import { errorPct, round } from "./lib/stats.js";

const BW_GOAL_PCT = 2;
const DELAY_GOAL_MS = 2;

/** Mean one-way delay of the relay hop alone (no link), per direction: subtracted to get the link's own error. */
type Hop = Record<Dir, number>;

function rowsFor(label: string, spec: ImpairmentSpec, m: LinkMeasurement, hop: Hop): Row[] {
  return (["down", "up"] as Dir[]).map((dir) => {
    const d = spec[dir];
    const b = m.bulk[dir];
    const dl = m.delay[dir];
    const bwErr = d.bandwidth === null ? null : errorPct(d.bandwidth, b.bps);
    const delayErr = dl.meanMs - dl.expectedMs;
    const linkErr = delayErr - hop[dir];
    const segMs = d.bandwidth === null ? null : (d.mtu * 8 * 1000) / d.bandwidth;
    const lossy = d.loss > 0 || d.gilbertElliott !== null;
    const ok = b.complete && (bwErr === null || Math.abs(bwErr) <= BW_GOAL_PCT) && Math.abs(linkErr) <= DELAY_GOAL_MS;
    return {
      link: label,
      dir,
      "bw cfg": formatBandwidth(d.bandwidth),
      "bw meas": b.complete ? formatBandwidth(Math.round(b.bps)) : `${formatBandwidth(Math.round(b.bps))} (${b.bytes}/${b.bytes} B)`,
      "bw err %": bwErr === null ? null : round(bwErr, 2),
      "delay exp ms": round(dl.expectedMs, 1),
      "delay meas ms": round(dl.meanMs, 1),
      "delay err ms": round(delayErr, 2),
      "link err ms": round(linkErr, 2),
      "sd exp ms": round(dl.sdExpectedMs, 1),
      "sd meas ms": round(dl.sdMs, 1),
      "gap max ms": b.maxGapMs === null ? null : round(b.maxGapMs, 1),
      "gap p99 ms": b.p99GapMs === null ? null : round(b.p99GapMs, 1),
      "seg ms": segMs === null ? null : round(segMs, 2),
      "max read B": b.maxReadBytes,
      goal: lossy ? "n/a (loss)" : ok ? "ok" : "MISSED",
    };
  });
}

const COLUMNS = [
  "link",
  "dir",
  "bw cfg",
  "bw meas",
  "bw err %",
  "delay exp ms",
  "delay meas ms",
  "delay err ms",
  "link err ms",
  "sd exp ms",
  "sd meas ms",
  "gap max ms",
  "gap p99 ms",
  "seg ms",
  "max read B",
  "goal",
];

const NOTES = [
  "delay exp = configured one-way delay + jitter mean + an 8-byte probe's serialization; delay meas = mean of the probes",
  "link err = delay err minus the relay hop's own one-way delay (the 'no link' baseline of 5b), i.e. what the link adds beyond its configuration",
  "sd = standard deviation of the one-way delay (the jitter's spread); gap = |real - ideal| arrival of a read (max and p99), ideal = a line at the configured rate from the first read",
  "seg ms = time one mtu segment takes at the configured rate; max read B = the largest single read at the receiver (a clump would be many segments)",
  `goal: |bw err| <= ${BW_GOAL_PCT} % and |link err| <= ${DELAY_GOAL_MS} ms (jitter adds sampling noise to the delay mean)`,
  "n/a (loss): a lost segment is delivered one rto late and holds what follows (as TCP shows loss), so goodput is below the configured bandwidth by design",
];

export async function fidelity(ctx: BenchContext): Promise<void> {
  const opts: MeasureOptions = ctx.quick ? { probes: 10, bulkSeconds: 1.5 } : { probes: 30, bulkSeconds: 4 };
  const registry = await ProfileRegistry.load([]);
  // baselines first: the relay hop alone (no link), and a pure delay with no bandwidth limit
  const grid: Row[] = [];
  const noHop: Hop = { up: 0, down: 0 };
  let hop: Hop = noHop;
  for (const delay of [0, 20]) {
    const spec = cleanSpec();
    spec.up.delay = delay;
    spec.down.delay = delay;
    const m = await measureLink(spec, { ...opts, unlimitedBytes: 32 * 2 ** 20 });
    if (delay === 0) hop = { up: m.delay.up.meanMs, down: m.delay.down.meanMs };
    const label = delay === 0 ? "no link (clean)" : `unlimited ${delay}ms`;
    grid.push(...rowsFor(label, spec, m, delay === 0 ? noHop : hop));
    ctx.results.figure("fidelity", `grid:${label}`, m);
  }
  ctx.results.figure("fidelity", "hopMs", hop);
  const rows: Row[] = [];
  const skipped: string[] = [];
  for (const name of registry.names()) {
    const r = resolveImpairment(registry, { profile: name });
    if (!r.ok) throw new Error(`profile ${name}: ${r.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
    if (isCleanDirection(r.spec.up) && isCleanDirection(r.spec.down)) {
      skipped.push(name);
      continue;
    }
    const m = await measureLink(r.spec, opts);
    rows.push(...rowsFor(name, r.spec, m, hop));
    ctx.results.figure("fidelity", `profile:${name}`, m);
  }
  ctx.results.table("fidelity", {
    title: "5a. Fidelity of every built-in link profile",
    columns: COLUMNS,
    rows,
    notes: [
      ...NOTES,
      `${opts.probes} probes and ${opts.bulkSeconds} s of bulk each way per profile; not link profiles (no bandwidth/delay): ${skipped.join(", ")}`,
    ],
  });

  for (const rate of [64e3, 1e6, 50e6]) {
    for (const delay of [20, 100, 1000]) {
      const spec = cleanSpec();
      for (const d of [spec.up, spec.down]) {
        d.bandwidth = rate;
        d.delay = delay;
      }
      const m = await measureLink(spec, opts);
      const label = `${formatBandwidth(rate)} ${delay}ms`;
      grid.push(...rowsFor(label, spec, m, hop));
      ctx.results.figure("fidelity", `grid:${label}`, m);
    }
  }
  ctx.results.table("fidelity", {
    title: "5b. Fidelity: 3 rates x 3 one-way delays (same both ways), after two baselines",
    columns: COLUMNS,
    rows: grid,
    notes: [NOTES[0]!, "baselines: 'no link' = the relay's fast path (the probes' delay is the relay hop itself); 'unlimited 20ms' = a link with delay only (timer lateness)"],
  });
}
