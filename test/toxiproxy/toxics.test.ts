// The toxic -> ImpairmentSpec mapping, without sockets: attributes (defaults, checks that name
// the field and value), each type's contribution, and composition onto a profile's spec.
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyToxic, attributeNames, composeToxics, parseAttributes, TOXIC_TYPES, type ToxicAttributes, type ToxicStream } from "../../src/toxiproxy/toxics.js";
import { ToxicBook, toxicOverlay } from "../../src/toxiproxy/book.js";
import { cleanSpec, isCleanSpec, type ImpairmentSpec } from "../../src/profiles/types.js";
import { ToxiproxyApiError } from "../../src/toxiproxy/errors.js";

function attrs(type: string, raw: unknown): ToxicAttributes {
  const a = parseAttributes(type, raw);
  assert.equal(typeof a, "object", `parse ${type} ${JSON.stringify(raw)}: ${String(a)}`);
  return a as ToxicAttributes;
}

function specWith(type: string, raw: unknown, stream: ToxicStream = "downstream", base: ImpairmentSpec = cleanSpec()): ImpairmentSpec {
  const spec = structuredClone(base);
  applyToxic(spec, { type, stream, attributes: attrs(type, raw) });
  return spec;
}

test("every Toxiproxy toxic type is offered, then netimpair's", () => {
  assert.deepEqual(TOXIC_TYPES.slice(0, 7), ["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"]);
  for (const extra of ["loss", "stall", "half_open", "corrupt", "connect"]) assert.ok(TOXIC_TYPES.includes(extra), extra);
  assert.deepEqual(attributeNames("slicer"), ["average_size", "size_variation", "delay"]);
});

test("attributes: defaults fill what is left out; updates keep what they do not name", () => {
  assert.deepEqual(attrs("latency", undefined), { latency: 0, jitter: 0 });
  assert.deepEqual(attrs("latency", { latency: 5 }), { latency: 5, jitter: 0 });
  assert.deepEqual(attrs("half_open", {}), { after: 0, mode: "drop", hold: 600_000 });
  assert.deepEqual(parseAttributes("latency", { jitter: 3 }, { latency: 50, jitter: 1 }), { latency: 50, jitter: 3 });
});

test("bad attributes are refused with the field, the value and what was expected", () => {
  const cases: [string, unknown, RegExp][] = [
    ["latency", { latency: -1 }, /attributes\.latency must be at least 0 \(milliseconds\), got -1/],
    ["latency", { latency: 1.5 }, /attributes\.latency must be a whole number \(milliseconds\), got 1\.5/],
    ["latency", { latency: "1s" }, /attributes\.latency must be a number \(milliseconds\), got "1s"/],
    ["latency", { latency: 2 ** 31 }, /attributes\.latency must be at most 2147483647 ms/],
    ["latency", { lat: 1 }, /unknown attribute "lat" for toxic type latency \(known: latency, jitter\)/],
    ["latency", [1], /attributes must be an object, got \[1\]/],
    ["bandwidth", { rate: null }, /attributes\.rate must be a number \(KB\/s/],
    ["slicer", {}, /attributes\.average_size must be at least 1 \(bytes\), got 0/],
    ["slicer", { average_size: 5, size_variation: 1.5 }, /attributes\.size_variation must be a whole number \(bytes\), got 1\.5/],
    ["loss", { probability: 2 }, /attributes\.probability must be at most 1/],
    ["stall", { every: 100, duration: 100 }, /duration must be shorter than every/],
    ["half_open", { mode: "pause" }, /attributes\.mode must be one of drop, freeze, got "pause"/],
    ["nosuch", {}, /invalid toxic type: "nosuch" \(known: latency, /],
  ];
  for (const [type, raw, pattern] of cases) {
    const r = parseAttributes(type, raw);
    assert.equal(typeof r, "string", `${type} ${JSON.stringify(raw)} should be refused`);
    assert.match(r as string, pattern);
  }
});

test("latency: delay latency - jitter plus uniform jitter, on the toxic's stream only", () => {
  const s = specWith("latency", { latency: 100, jitter: 20 });
  assert.equal(s.down.delay, 80);
  assert.equal(s.down.jitter, 20);
  assert.equal(s.down.jitterDistribution, "uniform");
  assert.equal(s.up.delay, 0);
  const wide = specWith("latency", { latency: 10, jitter: 30 }, "upstream");
  assert.equal(wide.up.delay, 0);
  assert.equal(wide.up.jitter, 20, "range [0, latency + jitter]");
});

test("bandwidth: KB/s -> bits/s, the lower of profile and toxic; 0 holds the direction", () => {
  assert.equal(specWith("bandwidth", { rate: 100 }).down.bandwidth, 800_000);
  const base = cleanSpec();
  base.down.bandwidth = 400_000;
  assert.equal(specWith("bandwidth", { rate: 100 }, "downstream", base).down.bandwidth, 400_000);
  assert.equal(specWith("bandwidth", { rate: 0 }, "upstream").up.bandwidth, 0);
});

test("timeout, reset_peer, slow_close, slicer, limit_data map onto the engine's faults", () => {
  const t = specWith("timeout", { timeout: 500 });
  assert.equal(t.down.bandwidth, 0);
  assert.deepEqual(t.reset, { probability: 1, after: 500, afterBytes: null });
  assert.equal(specWith("timeout", { timeout: 0 }).reset, null, "timeout 0 never closes");
  assert.deepEqual(specWith("reset_peer", { timeout: 0 }).reset, { probability: 1, after: 0, afterBytes: null });
  assert.deepEqual(specWith("slow_close", { delay: 250 }).slowClose, { delay: 250, probability: 1 });
  assert.deepEqual(specWith("slicer", { average_size: 64, delay: 1500 }, "upstream").up.slice, { size: 64, delay: 1.5 });
  // what Toxiproxy and toxiproxy-node-client's own tests send: a variation as large as the average
  assert.deepEqual(specWith("slicer", { average_size: 1000, size_variation: 1000 }, "downstream").down.slice, { size: 1000, delay: 0, variation: 1000 });
  assert.deepEqual(specWith("limit_data", { bytes: 10 }, "upstream").limit, { bytes: 10, direction: "up", probability: 1 });
});

test("composition: toxics add onto a copy of the profile's spec, in order", () => {
  const base = cleanSpec();
  base.down.delay = 50;
  base.reset = { probability: 1, after: 100, afterBytes: null };
  base.limit = { bytes: 500, direction: "down", probability: 1 };
  const spec = composeToxics(base, [
    { type: "latency", stream: "downstream", attributes: { latency: 30, jitter: 0 } },
    { type: "latency", stream: "downstream", attributes: { latency: 20, jitter: 0 } },
    { type: "reset_peer", stream: "downstream", attributes: { timeout: 1000 } },
    { type: "limit_data", stream: "upstream", attributes: { bytes: 200 } },
  ])!;
  assert.equal(spec.down.delay, 100);
  assert.deepEqual(spec.reset, { probability: 1, after: 100, afterBytes: null }, "the earlier reset wins");
  assert.deepEqual(spec.limit, { bytes: 200, direction: "both", probability: 1 });
  assert.equal(base.down.delay, 50, "the profile's spec is not touched");
  assert.equal(composeToxics(null, []), null, "no toxics, no profile: clean");
  assert.equal(composeToxics(base, []), base);
  const sooner = composeToxics(base, [{ type: "reset_peer", stream: "downstream", attributes: { timeout: 10 } }])!;
  assert.equal(sooner.reset?.after, 10);
});

test("overlay: a toxic applies where its sticky draw is below its toxicity", () => {
  const draws: Record<string, number> = {};
  let installed: ReturnType<typeof toxicOverlay> = null;
  const book2 = new ToxicBook((_p, o) => (installed = o));
  book2.add("p", { type: "latency", name: "a", toxicity: 0.5, attributes: { latency: 10 } });
  book2.add("p", { type: "latency", name: "never", toxicity: 0, attributes: { latency: 1000 } });
  const overlay = installed as unknown as NonNullable<ReturnType<typeof toxicOverlay>>;
  const drawn = (value: number) => (key: string) => (draws[key] ??= value);
  assert.equal(overlay(null, drawn(0.2))?.down.delay, 10, "draw 0.2 < 0.5: applies");
  for (const k of Object.keys(draws)) delete draws[k];
  const spec = overlay(null, drawn(0.7));
  assert.ok(spec === null || isCleanSpec(spec), "draw 0.7 >= 0.5: clean");
  book2.remove("p", "a");
  book2.remove("p", "never");
  assert.equal(installed, null, "no toxics: the overlay is removed");
});

test("the book refuses bad toxics with Toxiproxy's statuses", () => {
  const book = new ToxicBook(() => undefined);
  const status = (fn: () => unknown): number => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof ToxiproxyApiError);
      return err.status;
    }
    return 200;
  };
  assert.equal(status(() => book.add("p", { type: "latency" })), 200);
  assert.equal(status(() => book.add("p", { type: "latency" })), 409);
  assert.equal(status(() => book.add("p", { type: "latency", stream: "both" })), 400);
  assert.equal(status(() => book.add("p", { type: "latency", name: "a/b" })), 400);
  assert.equal(status(() => book.update("p", "nope", {})), 404);
  assert.equal(status(() => book.update("p", "latency_downstream", { toxicity: -0.1 })), 400);
  assert.equal(status(() => book.remove("p", "nope")), 404);
  assert.equal(book.add("p", { type: "latency", stream: "UPSTREAM" }).name, "latency_upstream", "stream is case-insensitive");
});
