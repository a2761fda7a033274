// The two fields of shared links, `share` and `queue`, everywhere a profile goes: YAML files,
// `set`, inline specs, resolved specs (which round-trip), ramps, and the Toxiproxy mapping.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProfileRegistry } from "../../src/profiles/registry.js";
import { resolveImpairment } from "../../src/profiles/resolve.js";
import { parseProfileText } from "../../src/profiles/load.js";
import { cleanSpec, isCleanSpec, type ImpairmentSpec } from "../../src/profiles/types.js";
import { interpolateSpec } from "../../src/scenario/interpolate.js";
import { composeToxics } from "../../src/toxiproxy/toxics.js";
import { describeImpairment } from "../../src/cli/status-view.js";

function resolved(req: Parameters<typeof resolveImpairment>[1], registry = ProfileRegistry.empty()): ImpairmentSpec {
  const r = resolveImpairment(registry, req);
  assert.ok(r.ok, JSON.stringify(r));
  return r.spec;
}

test("defaults: share client, queue fair; share and queue alone change nothing (apply clean --set share=proxy is clean)", () => {
  const spec = cleanSpec();
  assert.equal(spec.share, "client");
  assert.equal(spec.queue, "fair");
  assert.deepEqual(resolved({}), spec);
  assert.ok(isCleanSpec(resolved({ set: { share: "proxy", queue: "fifo" } })));
});

test("a YAML profile sets share and queue; a profile extending it inherits them, and set overrides them", () => {
  const file = parseProfileText("office.yaml", "share: proxy\nqueue: fifo\ndown: {bandwidth: 10Mbps}\n");
  assert.ok(file.ok, JSON.stringify(file));
  const registry = ProfileRegistry.empty();
  assert.ok(registry.define({ name: "office", share: "proxy", queue: "fifo", down: { bandwidth: "10Mbps" } }).ok);
  assert.ok(registry.define({ name: "office-2", extends: "office", rtt: "20ms" }).ok);
  assert.deepEqual(file.profile.draft.spec, { share: "proxy", queue: "fifo", down: { bandwidth: 10_000_000 } });
  const inherited = resolved({ profile: "office-2" }, registry);
  assert.equal(inherited.share, "proxy");
  assert.equal(inherited.queue, "fifo");
  const overridden = resolved({ profile: "office-2", set: { share: "connection", queue: "fair" } }, registry);
  assert.equal(overridden.share, "connection");
  assert.equal(overridden.queue, "fair");
  const inline = resolved({ profile: "office", spec: { share: "client" } }, registry);
  assert.equal(inline.share, "client");
  assert.equal(inline.queue, "fifo");
});

test("a resolved spec with share and queue is valid input again (round trip)", () => {
  const spec = resolved({ spec: { share: "proxy", queue: "fifo", down: { bandwidth: "1Mbps" } } });
  assert.deepEqual(resolved({ spec }), spec);
});

test("bad values name the field and the value, in YAML, spec and set", () => {
  const file = parseProfileText("bad.yaml", "share: device\nqueue: lifo\n");
  assert.ok(!file.ok);
  const messages = file.errors.map((e) => `${e.path}: ${e.message} (line ${e.line})`);
  assert.ok(messages.some((m) => m.startsWith('share: expected one of connection | client | proxy, got "device"') && m.includes("line 1")), messages.join("; "));
  assert.ok(messages.some((m) => m.startsWith('queue: expected one of fair | fifo, got "lifo"') && m.includes("line 2")), messages.join("; "));
  const viaSet = resolveImpairment(ProfileRegistry.empty(), { set: { share: "clients" } });
  assert.ok(!viaSet.ok);
  assert.equal(viaSet.errors[0]!.path, "set.share");
  assert.match(viaSet.errors[0]!.message, /expected one of connection \| client \| proxy, got "clients"/);
  const viaSpec = resolveImpairment(ProfileRegistry.empty(), { spec: { queue: 3 } });
  assert.ok(!viaSpec.ok);
  assert.equal(viaSpec.errors[0]!.path, "spec.queue");
  assert.match(viaSpec.errors[0]!.message, /expected one of fair \| fifo, got 3/);
  const typo = resolveImpairment(ProfileRegistry.empty(), { spec: { shares: "proxy" } });
  assert.ok(!typo.ok);
  assert.match(typo.errors[0]!.message, /did you mean share\?/);
});

test("ramps: share and queue switch half way, as other words do", () => {
  const from = { ...cleanSpec(), share: "connection" as const, queue: "fair" as const };
  const to = { ...cleanSpec(), share: "proxy" as const, queue: "fifo" as const };
  assert.equal(interpolateSpec(from, to, 0.25).share, "connection");
  assert.equal(interpolateSpec(from, to, 0.25).queue, "fair");
  assert.equal(interpolateSpec(from, to, 0.75).share, "proxy");
  assert.equal(interpolateSpec(from, to, 0.75).queue, "fifo");
});

test("Toxiproxy: a bandwidth toxic (and a timeout) stays per connection: share connection; other toxics keep the profile's share", () => {
  const base = { ...cleanSpec(), share: "proxy" as const };
  const withRate = composeToxics(base, [{ type: "bandwidth", stream: "downstream", attributes: { rate: 100 } }]);
  assert.equal(withRate?.share, "connection");
  assert.equal(withRate?.down.bandwidth, 800_000);
  assert.equal(base.share, "proxy", "the profile's own spec is not changed");
  const onClean = composeToxics(null, [{ type: "bandwidth", stream: "upstream", attributes: { rate: 10 } }]);
  assert.equal(onClean?.share, "connection");
  const timeout = composeToxics(null, [{ type: "timeout", stream: "upstream", attributes: { timeout: 0 } }]);
  assert.equal(timeout?.share, "connection");
  const latency = composeToxics(base, [{ type: "latency", stream: "downstream", attributes: { latency: 10, jitter: 0 } }]);
  assert.equal(latency?.share, "proxy");
});

test("status names who shares the link when a direction limits bandwidth", () => {
  const state = (spec: ImpairmentSpec) => ({ profile: "3g", spec, expiresAt: null, percent: 100, clients: [] });
  const shaped = { ...cleanSpec(), down: { ...cleanSpec().down, bandwidth: 1_000_000 } };
  assert.equal(describeImpairment(state(shaped)), "3g (link per client, fair)");
  assert.equal(describeImpairment(state({ ...shaped, share: "proxy", queue: "fifo" })), "3g (link per proxy, fifo)");
  assert.equal(describeImpairment(state({ ...shaped, share: "connection" })), "3g (link per connection)");
  assert.equal(describeImpairment(state(cleanSpec())), "3g", "no bandwidth limit: nothing is shared");
});
