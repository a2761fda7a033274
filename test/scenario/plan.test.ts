import { test } from "node:test";
import assert from "node:assert/strict";
import { validateScenario } from "../../src/scenario/schema.js";
import { planTimeline, type TimelineAction } from "../../src/scenario/plan.js";
import { interpolateBandwidth, interpolateSpec } from "../../src/scenario/interpolate.js";
import { cleanSpec, type ImpairmentSpec } from "../../src/profiles/types.js";
import type { Scenario } from "../../src/scenario/types.js";

function scenario(raw: unknown): Scenario {
  const { scenario: s, errors } = validateScenario(raw);
  assert.deepEqual(errors, []);
  return s!;
}

/** "at step role target proxies" per action, short. */
function brief(actions: TimelineAction[]): string[] {
  return actions.map((a) => {
    const t = a.target;
    const what = t.kind === "apply" ? (t.profile ?? "spec") : t.kind === "ramp" ? `ramp${t.fraction.toFixed(2)}` : t.kind;
    return `${a.at} s${a.step + 1} ${a.role} ${what} ${a.proxies.join(",")}`;
  });
}

test("for returns each proxy to what the previous steps left, or to the pre-run state", () => {
  const plan = planTimeline(scenario({
    proxies: ["pg", "api"],
    steps: [
      { at: 0, apply: "4g" },
      { at: "10s", apply: "slow-3g", for: "5s", proxies: ["pg"] },
      { at: "20s", apply: "2g", for: "5s" },
      { at: "30s", apply: "flaky", for: "1s", proxies: ["api"] },
    ],
  }));
  assert.deepEqual(brief(plan.actions), [
    "0 s1 start 4g pg,api",
    "10000 s2 start slow-3g pg",
    "15000 s2 restore 4g pg",
    "20000 s3 start 2g pg,api",
    "25000 s3 restore 4g pg,api",
    "30000 s4 start flaky api",
    "31000 s4 restore 4g api",
  ]);
  assert.equal(plan.endsAt, 31_000);
  assert.deepEqual(plan.spans.map((s) => [s.start, s.end]), [[0, 10_000], [10_000, 15_000], [20_000, 25_000], [30_000, 31_000]]);
  const first = planTimeline(scenario({ proxies: ["pg"], steps: [{ at: "1s", apply: "3g", for: "2s" }] }));
  assert.deepEqual(brief(first.actions), ["1000 s1 start 3g pg", "3000 s1 restore baseline pg"]);
});

test("a later step wins: an ending for does not undo it, and the stack skips dead entries", () => {
  const plan = planTimeline(scenario({
    proxies: ["pg"],
    steps: [
      { at: 0, apply: "a", for: "10s" },
      { at: "5s", apply: "b", for: "20s" },
    ],
  }));
  // a's end at 10 s changes nothing (b is current); b's end returns past dead a to the baseline
  assert.deepEqual(brief(plan.actions), ["0 s1 start a pg", "5000 s2 start b pg", "25000 s2 restore baseline pg"]);
});

test("back-to-back steps do not flicker through a restore at the shared instant", () => {
  const plan = planTimeline(scenario({
    proxies: ["pg"],
    steps: [
      { at: 0, apply: "4g", for: "60s" },
      { at: "60s", apply: "3g", for: "60s" },
      { at: "120s", clear: true },
    ],
  }));
  assert.deepEqual(brief(plan.actions), ["0 s1 start 4g pg", "60000 s2 start 3g pg", "120000 s3 start clean pg"]);
});

test("a ramp is re-applied at least each second with the fraction of the way; a later step takes over", () => {
  const plan = planTimeline(scenario({
    proxies: ["pg"],
    steps: [
      { at: 0, ramp: { from: "4g", to: "2g", over: "2500ms" } },
      { at: "10s", ramp: { from: "2g", to: "4g", over: "4s" }, for: "6s" },
      { at: "12s", apply: "partition", for: "1s" },
    ],
  }));
  assert.deepEqual(brief(plan.actions), [
    "0 s1 start ramp0.00 pg",
    "1000 s1 update ramp0.40 pg",
    "2000 s1 update ramp0.80 pg",
    "2500 s1 update ramp1.00 pg",
    "10000 s2 start ramp0.00 pg",
    "11000 s2 update ramp0.25 pg",
    "12000 s3 start partition pg",
    // the partition ends: the ramp, where it is by now, takes the proxy back (last word of the instant)
    "13000 s2 update ramp0.75 pg",
    "14000 s2 update ramp1.00 pg",
    "16000 s2 restore ramp1.00 pg",
  ]);
  const gaps = plan.actions.slice(0, 4).map((a, i, all) => (i ? a.at - all[i - 1]!.at : 0));
  assert.ok(gaps.every((g) => g <= 1000));
});

test("\"*\" stands for every proxy the runner found; trace rows become timed inline specs", () => {
  const s = scenario({ steps: [{ at: "1s", trace: "t.csv", proxies: ["*"] }] });
  if (s.steps[0]!.action.kind === "trace") {
    s.steps[0]!.action.rows = [
      { time: 0, down: 1e6, delay: 10, line: 2 },
      { time: 5000, down: 2e6, delay: 20, line: 3 },
    ];
  }
  const plan = planTimeline(s, ["a", "b"]);
  assert.deepEqual(plan.actions.map((a) => [a.at, a.role, a.proxies.join()]), [[1000, "start", "a,b"], [6000, "update", "a,b"]]);
  const t = plan.actions[1]!.target;
  assert.equal(t.kind, "apply");
  assert.deepEqual(t.kind === "apply" ? t.spec : null, { name: "trace-t", up: { delay: 20 }, down: { bandwidth: 2e6, delay: 20 } });
  assert.equal(plan.endsAt, 6000);
});

function spec(patch: (s: ImpairmentSpec) => void): ImpairmentSpec {
  const s = cleanSpec();
  patch(s);
  return s;
}

test("interpolation: numbers linear, unlimited joined through time per bit, one-sided faults from probability 0", () => {
  const from = spec((s) => {
    s.down.bandwidth = 20e6;
    s.down.delay = 10;
    s.up.bandwidth = null;
    s.down.mtu = 1460;
  });
  const to = spec((s) => {
    s.down.bandwidth = 250e3;
    s.down.delay = 150;
    s.down.jitter = 40;
    s.down.jitterDistribution = "normal";
    s.up.bandwidth = 50e3;
    s.down.mtu = 500;
    s.reset = { probability: 0.5, after: 2000, afterBytes: null };
    s.stall = { every: 10_000, duration: 1000, probability: 1 };
  });
  const mid = interpolateSpec(from, to, 0.25);
  assert.equal(mid.down.bandwidth, 20e6 + (250e3 - 20e6) * 0.25);
  assert.equal(mid.down.delay, 45);
  assert.equal(mid.down.jitter, 10);
  assert.equal(mid.down.jitterDistribution, "uniform");
  assert.equal(mid.down.mtu, 1220);
  assert.ok(Math.abs(mid.up.bandwidth! - 50e3 / 0.25) < 1e-6); // a quarter of the serialization time of 50 kbps
  assert.deepEqual(mid.reset, { probability: 0.125, after: 2000, afterBytes: null });
  assert.deepEqual(mid.stall, { every: 10_000, duration: 1000, probability: 0.25 });
  assert.equal(interpolateSpec(from, to, 0.75).down.jitterDistribution, "normal");
  assert.deepEqual(interpolateSpec(from, to, 0), from);
  assert.deepEqual(interpolateSpec(from, to, 1), to);
  assert.deepEqual(interpolateSpec(from, to, 7), to);
  assert.equal(interpolateBandwidth(null, null, 0.5), null);
  assert.ok(Math.abs(interpolateBandwidth(1e6, null, 0.5)! - 2e6) < 1e-6);
  // the way back: the fault fades out rather than vanishing
  assert.deepEqual(interpolateSpec(to, from, 0.5).reset, { probability: 0.25, after: 2000, afterBytes: null });
});
