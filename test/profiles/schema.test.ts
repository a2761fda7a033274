import { test } from "node:test";
import assert from "node:assert/strict";
import type { FieldError } from "../../src/control/protocol.js";
import { parseSetOverrides, suggest, validateProfile } from "../../src/profiles/schema.js";

function errorAt(errors: FieldError[], path: string): FieldError {
  const e = errors.find((x) => x.path === path);
  assert.ok(e, `no error at ${path}; got ${JSON.stringify(errors)}`);
  return e;
}

test("every field of the SPEC example validates into canonical units", () => {
  const { draft, errors } = validateProfile({
    name: "train-commute",
    description: "a 3G link on a moving train",
    source: "a measurement",
    extends: "3g",
    rtt: "400ms",
    down: {
      bandwidth: "400kbps",
      delay: "250ms",
      jitter: "50ms",
      jitterDistribution: "normal",
      rto: "200ms",
      slice: { size: "64B", delay: "5ms" },
      mtu: 1460,
      lossModel: { type: "gilbert-elliott", pGoodToBad: "1%", pBadToGood: 0.3, lossInBad: "50%" },
    },
    up: { bandwidth: "400kbps" },
    stall: { every: "30s", duration: "2s" },
    reset: { probability: "2%", after: "10s", afterBytes: "1MB" },
    halfOpen: { after: "5s", mode: "drop", hold: "1m", probability: 1 },
    connect: { delay: "500ms", refuse: "10%" },
    limit: { bytes: "1MB", direction: "down" },
    slowClose: { delay: "2s" },
    corrupt: { probability: 1e-6 },
  });
  assert.deepEqual(errors, []);
  assert.equal(draft.name, "train-commute");
  assert.equal(draft.extends, "3g");
  assert.equal(draft.spec.rtt, 400);
  assert.deepEqual(draft.spec.down, {
    bandwidth: 400_000,
    delay: 250,
    jitter: 50,
    jitterDistribution: "normal",
    rto: 200,
    slice: { size: 64, delay: 5 },
    mtu: 1460,
    gilbertElliott: { pGoodToBad: 0.01, pBadToGood: 0.3, lossInBad: 0.5 },
  });
  assert.deepEqual(draft.spec.up, { bandwidth: 400_000 });
  assert.deepEqual(draft.spec.stall, { every: 30_000, duration: 2000 });
  assert.deepEqual(draft.spec.reset, { probability: 0.02, after: 10_000, afterBytes: 1e6 });
  assert.deepEqual(draft.spec.halfOpen, { after: 5000, mode: "drop", hold: 60_000, probability: 1 });
  assert.deepEqual(draft.spec.connect, { delay: 500, refuse: 0.1 });
  assert.deepEqual(draft.spec.limit, { bytes: 1e6, direction: "down" });
  assert.deepEqual(draft.spec.slowClose, { delay: 2000 });
  assert.deepEqual(draft.spec.corrupt, { probability: 1e-6 });
});

test("one error per bad field, each naming the path and the value", () => {
  const { errors } = validateProfile({
    down: { bandwidth: "fast", delay: "20 parsecs", mtu: 10, jitterDistribution: "gaussian", slice: { size: 0 } },
    up: { loss: 5 },
    stall: { every: "10s", duration: "10s" },
    halfOpen: { mode: "explode" },
    limit: { direction: "sideways" },
    reset: { probability: "-2%" },
  });
  assert.match(errorAt(errors, "down.bandwidth").message, /expected a bandwidth.*"fast"/);
  assert.match(errorAt(errors, "down.delay").message, /expected a duration like 250us.*"20 parsecs"/);
  assert.match(errorAt(errors, "down.mtu").message, /64 to 65535.*10/);
  assert.match(errorAt(errors, "down.jitterDistribution").message, /uniform \| normal \| pareto.*"gaussian"/);
  assert.match(errorAt(errors, "down.slice.size").message, /at least 1 byte.*0/);
  assert.match(errorAt(errors, "up.loss").message, /did you mean 5%\?/);
  assert.match(errorAt(errors, "stall.duration").message, /shorter than/);
  assert.match(errorAt(errors, "halfOpen.mode").message, /drop \| freeze.*"explode"/);
  assert.match(errorAt(errors, "limit.direction").message, /up \| down \| both.*"sideways"/);
  assert.match(errorAt(errors, "reset.probability").message, /negative/);
  assert.equal(errors.length, 10, JSON.stringify(errors, null, 1));
});

test("unknown fields are errors with a did-you-mean", () => {
  const { errors } = validateProfile({ down: { bandwith: "1Mbps", dealy: 5 }, stal: { every: 1 }, rtt: 5, colour: "red" });
  assert.match(errorAt(errors, "down.bandwith").message, /unknown field "bandwith".*did you mean bandwidth\?/);
  assert.match(errorAt(errors, "down.dealy").message, /did you mean delay\?/);
  assert.match(errorAt(errors, "stal").message, /did you mean stall\?/);
  assert.match(errorAt(errors, "colour").message, /unknown field "colour" \(known fields: .*description/);
  assert.equal(suggest("halfopen", ["halfOpen", "reset"]), "halfOpen");
  assert.equal(suggest("xyz", ["halfOpen", "reset"]), undefined);
});

test("wrong shapes are errors, never crashes", () => {
  for (const raw of [null, 5, "3g", [], [{ down: {} }]]) {
    const { errors } = validateProfile(raw);
    assert.equal(errors.length, 1, `for ${JSON.stringify(raw)}: ${JSON.stringify(errors)}`);
    assert.match(errors[0]!.message, /expected a profile/);
  }
  const { errors } = validateProfile({ down: "fast", stall: 5, slice: null, up: null, name: "../etc/passwd", description: 7 });
  assert.match(errorAt(errors, "down").message, /expected a direction.*"fast"/);
  assert.match(errorAt(errors, "up").message, /expected a direction.*null/);
  assert.match(errorAt(errors, "stall").message, /expected a stall.*5/);
  assert.match(errorAt(errors, "slice").message, /unknown field/);
  assert.match(errorAt(errors, "name").message, /profile name.*"\.\.\/etc\/passwd"/);
  assert.match(errorAt(errors, "description").message, /expected text, got 7/);
});

test("a resolved spec's canonical form is valid input (numbers, nulls, gilbertElliott)", () => {
  const { draft, errors } = validateProfile({
    down: { bandwidth: null, delay: 0, jitter: 0, jitterDistribution: "uniform", loss: 0, gilbertElliott: null, rto: 200, slice: null, mtu: 1460 },
    up: { bandwidth: 1e6, gilbertElliott: { pGoodToBad: 0.01, pBadToGood: 0.5, lossInBad: 1, lossInGood: 0 } },
    stall: null,
    reset: { probability: 1, after: null, afterBytes: null },
    halfOpen: null,
    connect: null,
    limit: null,
    slowClose: null,
    corrupt: null,
  });
  assert.deepEqual(errors, []);
  assert.equal(draft.spec.down?.bandwidth, null);
  assert.equal(draft.spec.down?.gilbertElliott, null);
  assert.equal(draft.spec.stall, null);
  assert.deepEqual(draft.spec.reset, { probability: 1, after: null, afterBytes: null });
  assert.deepEqual(draft.spec.up?.gilbertElliott, { pGoodToBad: 0.01, pBadToGood: 0.5, lossInBad: 1, lossInGood: 0 });
});

test("lossModel: bernoulli clears the burst model; both forms at once is an error", () => {
  assert.equal(validateProfile({ down: { lossModel: { type: "bernoulli" } } }).draft.spec.down?.gilbertElliott, null);
  const both = validateProfile({ down: { lossModel: { pGoodToBad: 0.1 }, gilbertElliott: { pGoodToBad: 0.1 } } });
  assert.match(errorAt(both.errors, "down.lossModel").message, /not both/);
  const extra = validateProfile({ down: { lossModel: { type: "bernoulli", pGoodToBad: 0.1 } } });
  assert.match(errorAt(extra.errors, "down.lossModel.pGoodToBad").message, /bernoulli/);
  const badType = validateProfile({ down: { lossModel: { type: "markov" } } });
  assert.match(errorAt(badType.errors, "down.lossModel.type").message, /gilbert-elliott \| bernoulli.*"markov"/);
});

test("set overrides: dotted paths, validated like fields, errors under set.", () => {
  const ok = parseSetOverrides({ "down.delay": "300ms", "reset.after": "2s", rtt: "100ms", "up.slice.size": "64B", stall: null });
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.patch, { rtt: 100, down: { delay: 300 }, up: { slice: { size: 64 } }, reset: { after: 2000 }, stall: null });

  const bad = parseSetOverrides({ "down.delay": "soon", "down.dealy": "1s", name: "x", "down..loss": 1, "reset.after": "1s", reset: null });
  assert.match(errorAt(bad.errors, "set.down.delay").message, /"soon"/);
  assert.match(errorAt(bad.errors, "set.down.dealy").message, /did you mean delay\?/);
  assert.match(errorAt(bad.errors, "set.name").message, /unknown field/);
  assert.match(errorAt(bad.errors, "set.down..loss").message, /dotted field path/);
  assert.match(errorAt(bad.errors, "set.reset").message, /conflicts with set\.reset\.after/);

  assert.match(errorAt(parseSetOverrides("rtt=5").errors, "set").message, /expected overrides/);
  assert.deepEqual(parseSetOverrides(undefined), { patch: {}, errors: [] });
  // a prototype key is just an unknown field
  assert.match(errorAt(parseSetOverrides(JSON.parse('{"__proto__.x": 1}')).errors, "set.__proto__").message, /unknown field/);
});
