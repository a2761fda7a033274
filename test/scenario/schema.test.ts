import { test } from "node:test";
import assert from "node:assert/strict";
import { validateScenario } from "../../src/scenario/schema.js";
import { formatScenarioError, parseScenarioText, ScenarioLoadError } from "../../src/scenario/load.js";
import { parseTraceCsv, traceRowSpec } from "../../src/scenario/trace.js";

const noTraces = async (f: string): Promise<string> => {
  throw Object.assign(new Error(`no ${f}`), { code: "ENOENT" });
};

async function loadErrors(text: string, traces: Record<string, string> = {}): Promise<string[]> {
  try {
    await parseScenarioText("s.yaml", text, async (f) => (f in traces ? traces[f]! : noTraces(f)));
  } catch (err) {
    assert.ok(err instanceof ScenarioLoadError, String(err));
    return err.errors.map(formatScenarioError);
  }
  assert.fail("expected errors");
}

test("the SPEC's example scenario validates into sorted steps in canonical units", () => {
  const { scenario, errors } = validateScenario({
    name: "checkout-degrades",
    proxies: ["pg", "payments"],
    steps: [
      { at: "0s", apply: "4g" },
      { at: "20s", apply: "slow-3g", for: "20s" },
      { at: "45s", ramp: { from: "4g", to: "2g", over: "30s" } },
      { at: "80s", apply: { reset: { probability: "100%" } }, proxies: ["payments"] },
      { at: "90s", clear: true },
    ],
  });
  assert.deepEqual(errors, []);
  assert.ok(scenario);
  assert.equal(scenario.steps.length, 5);
  assert.deepEqual(scenario.steps.map((s) => s.at), [0, 20_000, 45_000, 80_000, 90_000]);
  assert.equal(scenario.steps[1]!.for, 20_000);
  assert.deepEqual(scenario.steps[2]!.action, { kind: "ramp", from: "4g", to: "2g", over: 30_000, every: 1000 });
  assert.deepEqual(scenario.steps[3]!.proxies, ["payments"]);
  assert.deepEqual(scenario.steps[4]!.proxies, ["pg", "payments"]);
  assert.equal(scenario.steps[0]!.name, "apply 4g");
});

test("repeat blocks expand into offset copies, inheriting the block's proxies", () => {
  const { scenario, errors } = validateScenario({
    steps: [
      { at: "10s", proxies: ["db"], repeat: { times: 3, every: "1m", steps: [{ at: 0, apply: "flaky", for: "5s" }, { at: "30s", clear: true }] } },
    ],
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(scenario!.steps.map((s) => [s.at, s.action.kind, s.proxies.join()]), [
    [10_000, "apply", "db"],
    [40_000, "clear", "db"],
    [70_000, "apply", "db"],
    [100_000, "clear", "db"],
    [130_000, "apply", "db"],
    [160_000, "clear", "db"],
  ]);
  assert.deepEqual(scenario!.steps[4]!.iteration, [2]);
});

test("bad fields are each named with their path and value", () => {
  const { scenario, errors } = validateScenario({
    proxies: ["pg"],
    stpes: [],
    steps: [
      { at: "5 parsecs", apply: "4g" },
      { at: "1s", apply: "4g", clear: true },
      { at: "2s", ramp: { from: "4g", to: "2g", over: "10s", every: "5s" } },
      { at: "3s", apply: { down: { bandwidth: "fast" } } },
      { at: "4s", ramp: { from: "4g", to: "2g", over: "10s" }, for: "5s" },
      { at: "5s", clear: true, percent: 50 },
      { at: "6s", apply: "3g", percent: 150 },
    ],
  });
  assert.equal(scenario, null);
  const byPath = new Map(errors.map((e) => [e.path, e.message]));
  assert.match(byPath.get("stpes")!, /unknown field "stpes" \(did you mean steps\?\)/);
  assert.match(byPath.get("steps.0.at")!, /5 parsecs/);
  assert.match(byPath.get("steps.1")!, /one action; this one has apply and clear/);
  assert.match(byPath.get("steps.2.ramp.every")!, /at least each second.*"5s"/);
  assert.match(byPath.get("steps.3.apply.down.bandwidth")!, /"fast"/);
  assert.match(byPath.get("steps.4.for")!, /at least its over/);
  assert.match(byPath.get("steps.5.percent")!, /percent goes with apply/);
  assert.match(byPath.get("steps.6.percent")!, /150/);
});

test("a step without proxies anywhere is an error naming where to put them", () => {
  const { errors } = validateScenario({ steps: [{ at: 0, apply: "4g" }] });
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.path, "steps.0.proxies");
  assert.match(errors[0]!.message, /no proxies/);
});

test("errors of a file carry the line of the bad field", async () => {
  const lines = await loadErrors(["name: x", "proxies: [pg]", "steps:", "  - at: 0s", "    apply: 4g", "  - at: 10s", "    ramp: {from: 4g, to: 2g, over: soon}", ""].join("\n"));
  assert.deepEqual(lines, [`s.yaml:7: step 2, ramp.over: expected a duration like 250us, 20ms, 1.5s, 2m, 1h (a bare number is ms), got "soon"`]);
  assert.match((await loadErrors("steps: [\n"))[0]!, /^s\.yaml:\d+: invalid YAML/);
  assert.match((await loadErrors(""))[0]!, /empty/);
});

test("trace steps load their CSV once; CSV errors name the trace file and line", async () => {
  const csv = "# measured on a train\ntime(s),down(kbps),up(kbps),rtt(ms)\n100,20000,10000,40\n105,1500,700,120\n110,400,unlimited,300\n";
  const s = await parseScenarioText("s.yaml", "proxies: [pg]\nsteps:\n  - {at: 0, repeat: {times: 2, every: 20s, steps: [{at: 0, trace: t.csv}]}}\n", async (f) => {
    assert.equal(f, "t.csv");
    return csv;
  });
  const rows = s.steps[1]!.action.kind === "trace" ? s.steps[1]!.action.rows : [];
  assert.deepEqual(rows.map((r) => [r.time, r.down, r.up, r.delay]), [
    [0, 20e6, 10e6, 20],
    [5000, 1.5e6, 0.7e6, 60],
    [10_000, 0.4e6, null, 150],
  ]);
  assert.deepEqual(traceRowSpec(rows[1]!), { up: { bandwidth: 0.7e6, delay: 60 }, down: { bandwidth: 1.5e6, delay: 60 } });
  const bad = await loadErrors("proxies: [pg]\nsteps:\n  - at: 0\n    trace: t.csv\n", { "t.csv": "time,down\n0,1Mbps\n0,2 furlongs\n" });
  assert.equal(bad.length, 1);
  assert.match(bad[0]!, /^s\.yaml:4: step 1, trace: t\.csv:3: down "2 furlongs"/);
  const missing = await loadErrors("proxies: [pg]\nsteps:\n  - {at: 0, trace: gone.csv}\n");
  assert.match(missing[0]!, /cannot read the trace gone\.csv \(ENOENT\)/);
});

test("trace CSV checks: header columns, increasing time, value counts", () => {
  assert.match(parseTraceCsv("when,down\n0,1\n").errors[0]!.message, /unknown column "when"/);
  assert.match(parseTraceCsv("down\n1Mbps\n").errors[0]!.message, /needs a time column/);
  assert.match(parseTraceCsv("time,delay,rtt\n0,1,2\n").errors[0]!.message, /not both/);
  const back = parseTraceCsv("time(s),down(Mbps)\n0,1\n2,1\n1,1\n");
  assert.equal(back.errors[0]!.line, 4);
  assert.match(back.errors[0]!.message, /time must increase/);
  assert.match(parseTraceCsv("time,down\n0,1Mbps,3\n").errors[0]!.message, /expected 2 values/);
  assert.match(parseTraceCsv("").errors[0]!.message, /empty/);
  const ok = parseTraceCsv("time,loss,delay\n0ms,1%,10ms\n1s,5%,20ms\n");
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.rows.map((r) => [r.time, r.loss, r.delay]), [[0, 0.01, 10], [1000, 0.05, 20]]);
});

test("expect: the SPEC's example validates in canonical units; each bad field is named with its value", async () => {
  const { scenario, errors } = validateScenario({
    proxies: ["payments"],
    steps: [{ at: "0s", apply: "4g" }],
    expect: [{ proxy: "payments", retries: { max: 3 }, backoff: { first: "100ms", growth: 1.5 }, timeout: { max: "5s" }, circuitBreaker: { opensAfter: 10, pause: "1s" } }],
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(scenario?.expect, [{ proxy: "payments", retries: { max: 3 }, backoff: { first: 100, growth: 1.5 }, timeout: { max: 5000 }, circuitBreaker: { opensAfter: 10, pause: 1000 } }]);
  const bad = await loadErrors(`
proxies: [payments]
steps: [{at: 0s, apply: 4g}]
expect:
  - proxy: payments
    retries: {max: -1}
    backoff: {first: soon, growth: 0.5}
    timeout: {maxx: 5s}
    circuitBreaker: {opensAfter: 10}
  - {proxy: payments}
`);
  const text = bad.join("\n");
  assert.match(text, /expect\.0\.retries\.max: expected a whole number from 0, got -1/);
  assert.match(text, /expect\.0\.backoff\.first: .*"soon"/);
  assert.match(text, /expect\.0\.backoff\.growth: expected a factor from 1 to 100 .*got 0\.5/);
  assert.match(text, /expect\.0\.timeout\.maxx: unknown field "maxx" \(did you mean max\?\)/);
  assert.match(text, /expect\.0\.circuitBreaker\.pause: required/);
  assert.match(text, /expect\.1: an expectation needs at least one of retries, backoff, timeout, circuitBreaker/);
  // each with its line in the file
  assert.match(text, /s\.yaml:6/);
});
