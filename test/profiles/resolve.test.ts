import { test } from "node:test";
import assert from "node:assert/strict";
import { ProfileRegistry } from "../../src/profiles/registry.js";
import { resolveImpairment } from "../../src/profiles/resolve.js";
import { cleanSpec, DEFAULT_HALF_OPEN_HOLD_MS, type ImpairmentSpec } from "../../src/profiles/types.js";

/** A registry of in-memory profiles only (no files): clean plus the given ones. */
function registryWith(...raws: Record<string, unknown>[]): ProfileRegistry {
  const r = ProfileRegistry.empty();
  for (const raw of raws) {
    const result = r.define(raw);
    assert.ok(result.ok, `define ${JSON.stringify(raw)}: ${JSON.stringify(result)}`);
  }
  return r;
}

function resolved(r: ProfileRegistry, req: Parameters<typeof resolveImpairment>[1]): { profile: string; spec: ImpairmentSpec } {
  const result = resolveImpairment(r, req);
  assert.ok(result.ok, JSON.stringify(result));
  return result;
}

const base = { name: "base", description: "the base", source: "made up", rtt: "100ms", down: { bandwidth: "1Mbps" }, up: { bandwidth: "500kbps" } };

test("nothing asked is clean", () => {
  const r = registryWith();
  const s = resolved(r, {});
  assert.equal(s.profile, "clean");
  assert.deepEqual(s.spec, cleanSpec());
});

test("rtt gives each direction half; a direction's own delay wins", () => {
  const r = registryWith(base, { name: "asym", rtt: "100ms", down: { delay: "80ms" } });
  const s = resolved(r, { profile: "base" }).spec;
  assert.equal(s.down.delay, 50);
  assert.equal(s.up.delay, 50);
  const a = resolved(r, { profile: "asym" }).spec;
  assert.equal(a.down.delay, 80);
  assert.equal(a.up.delay, 50);
});

test("extends: chains merge field by field, the nearest wins, the chain is reported", () => {
  const r = registryWith(
    base,
    { name: "mid", extends: "base", down: { jitter: "10ms" }, reset: { probability: "5%", after: "30s" } },
    { name: "top", extends: "mid", description: "the top", up: { bandwidth: "2Mbps" }, reset: { after: "1s" } },
  );
  const top = r.get("top");
  assert.ok(top);
  assert.deepEqual(top.extends, ["mid", "base"]);
  assert.equal(top.description, "the top");
  assert.equal(top.source, "made up", "source is inherited when not given");
  assert.equal(top.spec.down.bandwidth, 1e6);
  assert.equal(top.spec.down.jitter, 10);
  assert.equal(top.spec.down.delay, 50);
  assert.equal(top.spec.up.bandwidth, 2e6);
  assert.deepEqual(top.spec.reset, { probability: 0.05, after: 1000, afterBytes: null });
  // a child's rtt overrides the parent's delays
  const r2 = registryWith(base, { name: "near", extends: "base", rtt: "10ms" });
  assert.equal(r2.get("near")?.spec.down.delay, 5);
  // a fault set to null is removed
  const r3 = registryWith(base, { name: "f", extends: "base", stall: { every: "2s", duration: "1s" } }, { name: "g", extends: "f", stall: null });
  assert.equal(r3.get("g")?.spec.stall, null);
});

test("extends cycles are errors naming the chain", () => {
  const r = ProfileRegistry.empty();
  assert.ok(r.define({ name: "a", rtt: 10 }).ok);
  assert.ok(r.define({ name: "b", extends: "a" }).ok);
  const cyc = r.define({ name: "a", extends: "b" });
  assert.equal(cyc.ok, false);
  assert.ok(!cyc.ok);
  assert.equal(cyc.errors[0]?.path, "extends");
  assert.match(cyc.errors[0]!.message, /cycle: a -> b -> a/);
  // the failed define changed nothing
  assert.equal(r.get("a")?.spec.down.delay, 5);
  const self = r.define({ name: "c", extends: "c" });
  assert.ok(!self.ok);
  assert.match(self.errors[0]!.message, /cycle: c -> c/);
});

test("a missing profile or extends target is notFound", () => {
  const r = registryWith(base);
  const missing = resolveImpairment(r, { profile: "nope" });
  assert.ok(!missing.ok);
  assert.equal(missing.notFound, "nope");
  assert.equal(missing.errors[0]?.path, "profile");
  assert.match(missing.errors[0]!.message, /no profile named "nope"/);
  const typo = resolveImpairment(r, { profile: "Base" });
  assert.ok(!typo.ok);
  assert.match(typo.errors[0]!.message, /no profile named "Base" \(did you mean base\?\)/);
  const viaSpec = resolveImpairment(r, { spec: { extends: "ghost" } });
  assert.ok(!viaSpec.ok);
  assert.equal(viaSpec.notFound, "ghost");
  assert.equal(viaSpec.errors[0]?.path, "spec.extends");
  const def = r.define({ name: "child", extends: "ghost" });
  assert.ok(!def.ok);
  assert.match(def.errors[0]!.message, /no profile named "ghost" \(extended by "child"\)/);
});

test("merge order: profile <- spec <- set", () => {
  const r = registryWith(base);
  const s = resolved(r, {
    profile: "base",
    spec: { down: { bandwidth: "2Mbps", jitter: "5ms" }, up: { delay: "7ms" } },
    set: { "down.bandwidth": "3Mbps" },
  });
  assert.equal(s.profile, "base");
  assert.equal(s.spec.down.bandwidth, 3e6, "set beats spec");
  assert.equal(s.spec.down.jitter, 5, "spec beats profile");
  assert.equal(s.spec.up.delay, 7);
  assert.equal(s.spec.up.bandwidth, 5e5, "profile shows through");
});

test("set rtt overrides both directions, even explicit delays", () => {
  const r = registryWith({ name: "asym", down: { delay: "300ms" }, up: { delay: "10ms" } });
  const s = resolved(r, { profile: "asym", set: { rtt: "100ms" } }).spec;
  assert.equal(s.down.delay, 50);
  assert.equal(s.up.delay, 50);
  const t = resolved(r, { profile: "asym", set: { rtt: "100ms", "down.delay": "1s" } }).spec;
  assert.equal(t.down.delay, 1000, "a delay set beside rtt wins for its direction");
  assert.equal(t.up.delay, 50);
});

test("setting a fault's field on a profile without it creates it with defaults", () => {
  const r = registryWith();
  const s = resolved(r, { profile: "clean", set: { "reset.after": "2s" } });
  assert.equal(s.profile, "clean");
  assert.deepEqual(s.spec.reset, { probability: 1, after: 2000, afterBytes: null });
  const h = resolved(r, { set: { "halfOpen.mode": "freeze" } }).spec.halfOpen;
  assert.deepEqual(h, { probability: 1, after: null, afterBytes: null, mode: "freeze", hold: DEFAULT_HALF_OPEN_HOLD_MS });
  const l = resolved(r, { set: { "limit.bytes": "1KB" } }).spec.limit;
  assert.deepEqual(l, { bytes: 1000, direction: "down", probability: 1 });
  const sl = resolved(r, { set: { "down.slice.size": 64 } }).spec.down.slice;
  assert.deepEqual(sl, { size: 64, delay: 0 });
  const ge = resolved(r, { set: { "up.lossModel.pGoodToBad": "1%", "up.lossModel.pBadToGood": "25%" } }).spec.up.gilbertElliott;
  assert.deepEqual(ge, { pGoodToBad: 0.01, pBadToGood: 0.25, lossInBad: 1, lossInGood: 0 });
  // removing a fault with set
  const r2 = registryWith({ name: "resets", reset: { after: "1s" } });
  assert.equal(resolved(r2, { profile: "resets", set: { reset: null } }).spec.reset, null);
});

test("incomplete or contradictory faults after merging are errors", () => {
  const r = registryWith({ name: "stalls", stall: { every: "10s", duration: "2s" } });
  const noDuration = resolveImpairment(r, { set: { "stall.every": "10s" } });
  assert.ok(!noDuration.ok);
  assert.equal(noDuration.errors[0]?.path, "stall.duration");
  assert.match(noDuration.errors[0]!.message, /required/);
  const tooLong = resolveImpairment(r, { profile: "stalls", set: { "stall.duration": "10s" } });
  assert.ok(!tooLong.ok);
  assert.equal(tooLong.errors[0]?.path, "stall.duration");
  assert.match(tooLong.errors[0]!.message, /10s\) must be shorter than its period every \(10s\)/);
  const noBytes = resolveImpairment(r, { spec: { limit: { direction: "up" } } });
  assert.ok(!noBytes.ok);
  assert.equal(noBytes.errors[0]?.path, "limit.bytes");
});

test("inline spec alone: its name or custom; a resolved spec round-trips", () => {
  const r = registryWith(base, { name: "full", extends: "base", stall: { every: "5s", duration: "1s" }, down: { lossModel: { pGoodToBad: 0.1, pBadToGood: 0.5 }, slice: { size: 10 } } });
  assert.equal(resolved(r, { spec: { name: "mine", rtt: 10 } }).profile, "mine");
  assert.equal(resolved(r, { spec: { rtt: 10 } }).profile, "custom");
  const full = r.get("full")!.spec;
  const again = resolved(r, { spec: full });
  assert.deepEqual(again.spec, full);
  assert.equal(again.profile, "custom");
  // the same spec applied over another profile replaces every field
  assert.deepEqual(resolved(r, { profile: "base", spec: full }).spec, full);
});

test("bad requests name the path: profile, spec.*, set.*", () => {
  const r = registryWith(base);
  const bad = resolveImpairment(r, {
    profile: 5 as unknown as string,
    spec: { down: { bandwidth: "lots" } },
    set: { "up.delay": "whenever", "reset.aftr": "1s" },
  });
  assert.ok(!bad.ok);
  const paths = bad.errors.map((e) => e.path).sort();
  assert.deepEqual(paths, ["profile", "set.reset.aftr", "set.up.delay", "spec.down.bandwidth"]);
  assert.match(bad.errors.find((e) => e.path === "set.reset.aftr")!.message, /did you mean after\?/);
  assert.match(bad.errors.find((e) => e.path === "spec.down.bandwidth")!.message, /"lots"/);
  const both = resolveImpairment(r, { profile: "base", spec: { extends: "clean" } });
  assert.ok(!both.ok);
  assert.equal(both.errors[0]?.path, "spec.extends");
  const notObject = resolveImpairment(r, { spec: "fast" });
  assert.ok(!notObject.ok);
  assert.equal(notObject.errors[0]?.path, "spec");
});

test("resolved profiles are copies: callers cannot change the registry", () => {
  const r = registryWith(base);
  const p = r.get("base")!;
  p.spec.down.bandwidth = 1;
  assert.equal(r.get("base")!.spec.down.bandwidth, 1e6);
});
