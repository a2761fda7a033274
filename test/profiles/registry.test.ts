import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinProfilesDir, ProfileRegistry } from "../../src/profiles/registry.js";
import { resolveImpairment } from "../../src/profiles/resolve.js";
import { isCleanSpec } from "../../src/profiles/types.js";

const temps: string[] = [];
after(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

/** A fresh temp directory holding the given files. */
async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-profiles-"));
  temps.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** Built-in numbers: down/up bits per second and round trip ms. */
const TABLE: Record<string, [number, number, number]> = {
  "2g": [250_000, 50_000, 300],
  "3g": [1_000_000, 500_000, 100],
  "4g": [20_000_000, 10_000_000, 20],
  "slow-3g": [400_000, 400_000, 400],
  "fast-3g": [1_600_000, 750_000, 150],
  "fast-4g": [9_000_000, 1_500_000, 60],
  edge: [240_000, 200_000, 840],
  lte: [12_000_000, 12_000_000, 70],
  dsl: [1_500_000, 384_000, 50],
  cable: [5_000_000, 1_000_000, 28],
};

test("the built-in folder is found from the compiled module", () => {
  const dir = builtinProfilesDir();
  assert.ok(existsSync(join(dir, "clean.yaml")), dir);
});

test("every built-in profile loads, has a description and a source, and resolves", async () => {
  const r = await ProfileRegistry.load([]);
  assert.deepEqual(r.loadErrors, []);
  const expected = [...Object.keys(TABLE), "wifi", "lossy-wifi", "satellite", "flaky", "blackhole", "partition", "clean", "pg-serialization-failures", "mysql-deadlocks", "redis-oom", "http-503-storm", "grpc-unavailable", "http-partial-responses", "llm-stream-cut", "api-rate-limited", "dns-servfail", "dns-nxdomain-for", "dns-empty-answer", "dns-slow", "lossy-udp"];
  for (const name of expected) {
    const p = r.get(name);
    assert.ok(p, `missing built-in ${name}`);
    assert.equal(p.name, name);
    assert.ok(p.description.length > 10, `${name} description`);
    assert.ok(p.source.length > 3, `${name} source`);
    assert.equal(r.origin(name)?.origin, "builtin");
  }
  assert.deepEqual(r.names().sort(), [...expected].sort());
});

test("built-in link numbers match the published tables (down/up bits/s, half the round trip each way)", async () => {
  const r = await ProfileRegistry.load([]);
  for (const [name, [down, up, rtt]] of Object.entries(TABLE)) {
    const s = r.get(name)!.spec;
    assert.equal(s.down.bandwidth, down, `${name} down.bandwidth`);
    assert.equal(s.up.bandwidth, up, `${name} up.bandwidth`);
    assert.equal(s.down.delay, rtt / 2, `${name} down.delay`);
    assert.equal(s.up.delay, rtt / 2, `${name} up.delay`);
    assert.equal(s.down.loss, 0);
    assert.equal(s.reset, null);
  }
  const slow = r.get("slow-3g")!.spec;
  assert.equal(slow.down.bandwidth, 400_000);
  assert.equal(slow.down.delay, 200);
});

test("the other built-ins: wifi, lossy-wifi, satellite, flaky, blackhole, partition, clean", async () => {
  const r = await ProfileRegistry.load([]);
  const wifi = r.get("wifi")!.spec;
  assert.equal(wifi.down.bandwidth, 30e6);
  assert.equal(wifi.up.bandwidth, 15e6);
  assert.equal(wifi.down.delay, 5);
  assert.ok(wifi.down.jitter > 0 && wifi.down.jitter <= 5);

  const lossy = r.get("lossy-wifi")!;
  assert.deepEqual(lossy.extends, ["wifi"]);
  assert.equal(lossy.spec.down.loss, 0.02);
  assert.equal(lossy.spec.up.loss, 0.02);
  assert.equal(lossy.spec.down.rto, 200);
  assert.equal(lossy.spec.down.bandwidth, 30e6);
  assert.ok(lossy.spec.down.jitter > wifi.down.jitter);

  const sat = r.get("satellite")!.spec;
  assert.equal(sat.down.delay + sat.up.delay, 600);
  assert.ok(sat.down.jitter > 0);

  const flaky = r.get("flaky")!.spec;
  assert.deepEqual(flaky.stall, { every: 20_000, duration: 3000, probability: 1 });
  assert.deepEqual(flaky.reset, { probability: 0.05, after: 30_000, afterBytes: null });

  const blackhole = r.get("blackhole")!.spec;
  assert.equal(blackhole.halfOpen?.after, 0);
  assert.equal(blackhole.halfOpen?.mode, "drop");
  assert.equal(blackhole.halfOpen?.probability, 1);

  const partition = r.get("partition")!;
  assert.equal(partition.spec.connect?.refuse, 1);
  assert.equal(partition.spec.halfOpen?.after, 0);
  assert.equal(partition.spec.halfOpen?.mode, "freeze");
  assert.match(partition.description, /reset/);
  assert.match(partition.description, /half-open/);

  assert.ok(isCleanSpec(r.get("clean")!.spec));
});

test("resolveImpairment over the built-ins: clean + reset.after, slow-3g + set", async () => {
  const r = await ProfileRegistry.load([]);
  const one = resolveImpairment(r, { profile: "clean", set: { "reset.after": "2s" } });
  assert.ok(one.ok);
  assert.deepEqual(one.spec.reset, { probability: 1, after: 2000, afterBytes: null });
  const slow = resolveImpairment(r, { profile: "slow-3g", set: { "down.delay": "300ms" } });
  assert.ok(slow.ok);
  assert.equal(slow.spec.down.delay, 300);
  assert.equal(slow.spec.up.delay, 200);
});

test("user directories: later ones override earlier ones and built-ins; profiles may extend each other", async () => {
  const a = await dirWith({
    "office.yml": "description: office link\nextends: cable\ndown: {jitter: 3ms}\n",
    "3g.yaml": "description: my own 3g\nrtt: 1s\n",
    "notes.txt": "not a profile",
  });
  const b = await dirWith({ "office.yaml": "description: the office, later\nextends: zz-base\n", "zz-base.yaml": "rtt: 20ms\n" });
  const r = await ProfileRegistry.load([a, b]);
  assert.deepEqual(r.loadErrors, []);
  assert.equal(r.get("3g")?.description, "my own 3g");
  assert.equal(r.get("3g")?.spec.down.delay, 500);
  assert.equal(r.origin("3g")?.origin, "file");
  assert.equal(r.get("office")?.description, "the office, later");
  assert.equal(r.get("office")?.spec.down.delay, 10);
  assert.ok(!r.names().includes("notes"));
});

test("a bad user file is reported with file, line, field and value, and skipped", async () => {
  const dir = await dirWith({
    "bad.yaml": ["description: broken", "rtt: 100ms", "down:", "  bandwidth: 400kbps", "  delay: 20 parsecs", "up:", "  bandwith: 1Mbps", ""].join("\n"),
    "good.yaml": "rtt: 10ms\n",
  });
  const r = await ProfileRegistry.load([dir]);
  const file = join(dir, "bad.yaml");
  const delay = r.loadErrors.find((e) => e.startsWith(`${file}:5: down.delay: `));
  assert.ok(delay, r.loadErrors.join("\n"));
  assert.match(delay, /expected a duration like 250us, 20ms, 1\.5s, 2m, 1h \(a bare number is ms\), got "20 parsecs"/);
  const typo = r.loadErrors.find((e) => e.startsWith(`${file}:7: up.bandwith:`));
  assert.ok(typo, r.loadErrors.join("\n"));
  assert.match(typo, /unknown field "bandwith" \(did you mean bandwidth\?\)/);
  assert.equal(r.loadErrors.length, 2, r.loadErrors.join("\n"));
  assert.equal(r.get("bad"), undefined);
  assert.equal(r.get("good")?.spec.up.delay, 5);
  assert.ok(r.get("slow-3g"), "built-ins are still there");
});

test("malformed YAML gives the file and line", async () => {
  const dir = await dirWith({ "broken.yaml": "description: x\ndown:\n  bandwidth: [1Mbps\n  delay: 5ms\n" });
  const r = await ProfileRegistry.load([dir], { builtinsDir: null });
  assert.equal(r.loadErrors.length >= 1, true);
  assert.match(r.loadErrors[0]!, new RegExp(`^${join(dir, "broken.yaml").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+: invalid YAML: `));
  const dup = await dirWith({ "dup.yaml": "rtt: 5ms\nrtt: 6ms\n" });
  const r2 = await ProfileRegistry.load([dup], { builtinsDir: null });
  assert.match(r2.loadErrors[0]!, /dup\.yaml:2: invalid YAML: .*[Mm]ap keys must be unique/);
});

test("file errors found only when resolving (extends, cycles, incomplete faults) still name file and line", async () => {
  const dir = await dirWith({
    "orphan.yaml": "description: x\nextends: nowhere\n",
    "loop-a.yaml": "extends: loop-b\n",
    "loop-b.yaml": "extends: loop-a\n",
    "half.yaml": "rtt: 5ms\nstall:\n  every: 5s\n",
    "kid.yaml": "extends: orphan\n",
  });
  const r = await ProfileRegistry.load([dir], { builtinsDir: null });
  const errs = r.loadErrors.join("\n");
  assert.ok(r.loadErrors.includes(`${join(dir, "orphan.yaml")}:2: extends: no profile named "nowhere" (extended by "orphan")`), errs);
  assert.match(errs, /loop-a\.yaml:1: extends: profiles extend each other in a cycle: loop-a -> loop-b -> loop-a/);
  assert.match(errs, /half\.yaml:2: stall\.duration: a stall's duration is required/);
  assert.match(errs, /kid\.yaml:1: extends: no profile named "orphan" \(extended by "kid"\)/);
  assert.deepEqual(r.names(), ["clean"]);
});

test("file name is the profile name: a different name: is an error; bad file names and clean are refused", async () => {
  const dir = await dirWith({ "mine.yaml": "name: yours\nrtt: 5ms\n", "clean.yaml": "rtt: 5ms\n", "sp ace.yaml": "rtt: 1\n" });
  const r = await ProfileRegistry.load([dir], { builtinsDir: null });
  const errs = r.loadErrors.join("\n");
  assert.match(errs, /mine\.yaml:1: name: the profile is named by its file \("mine"\), but name says "yours"/);
  assert.match(errs, /clean\.yaml: "clean" is built in and cannot be replaced/);
  assert.match(errs, /sp ace\.yaml: the file name is the profile name and "sp ace" is not a valid one/);
  assert.ok(isCleanSpec(r.get("clean")!.spec));
  const same = await dirWith({ "mine.yaml": "name: mine\nrtt: 5ms\n" });
  assert.equal((await ProfileRegistry.load([same], { builtinsDir: null })).get("mine")?.spec.down.delay, 2.5);
});

test("a missing user directory is reported, not fatal; empty files are errors", async () => {
  const ghost = join(tmpdir(), "netimpair-no-such-dir-" + process.pid);
  const empty = await dirWith({ "empty.yaml": "" });
  const r = await ProfileRegistry.load([ghost, empty]);
  assert.match(r.loadErrors[0]!, new RegExp(`no-such-dir.*cannot read the profiles directory \\(ENOENT\\)`));
  assert.match(r.loadErrors[1]!, /empty\.yaml: the file is empty/);
  assert.ok(r.get("4g"));
});

test("loadFile adds one file, or reports its errors and changes nothing", async () => {
  const dir = await dirWith({
    "ok.yaml": "extends: slow-3g\ndown: {loss: 1%}\n",
    "nope.yaml": "down:\n  loss: 5\n",
  });
  await mkdir(join(dir, "sub"));
  const r = await ProfileRegistry.load([]);
  const ok = await r.loadFile(join(dir, "ok.yaml"));
  assert.ok(ok.ok);
  assert.equal(ok.profile.spec.down.loss, 0.01);
  assert.equal(ok.profile.spec.down.bandwidth, 400_000);
  assert.equal(r.get("ok")?.spec.down.loss, 0.01);
  const bad = await r.loadFile(join(dir, "nope.yaml"));
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors, [
    { file: join(dir, "nope.yaml"), line: 2, path: "down.loss", message: bad.errors[0]!.message },
  ]);
  assert.match(bad.errors[0]!.message, /got 5: above 1 \(did you mean 5%\?\)/);
  assert.equal(r.has("nope"), false);
  const missing = await r.loadFile(join(dir, "missing.yaml"));
  assert.ok(!missing.ok);
  assert.match(missing.errors[0]!.message, /cannot read the file \(ENOENT\)/);
});

test("define: in memory, name required, clean protected, replaces earlier definitions", async () => {
  const r = await ProfileRegistry.load([]);
  assert.deepEqual(r.define({ rtt: 5 }), { ok: false, errors: [{ path: "name", message: "a defined profile needs a name" }] });
  const c = r.define({ name: "clean", rtt: 5 });
  assert.ok(!c.ok);
  assert.match(c.errors[0]!.message, /cannot be replaced/);
  const d = r.define({ name: "commute", extends: "3g", description: "train", stall: { every: "10s", duration: "1s" } });
  assert.ok(d.ok);
  assert.deepEqual(d.profile.extends, ["3g"]);
  assert.equal(r.origin("commute")?.origin, "defined");
  assert.ok(r.names().includes("commute"));
  assert.ok(r.define({ name: "commute", rtt: 40 }).ok);
  assert.equal(r.get("commute")?.spec.down.delay, 20);
  assert.equal(r.get("commute")?.spec.stall, null);
  const bad = r.define({ name: "x", down: { bandwidth: "1 zillion bps" } });
  assert.ok(!bad.ok);
  assert.equal(bad.errors[0]?.path, "down.bandwidth");
});

test("built-in request profiles carry their rules: pg 40001 on writes, mysql 1213, redis OOM on writes", async () => {
  const r = await ProfileRegistry.load([]);
  const pg = r.get("pg-serialization-failures")!.spec.requests;
  assert.equal(pg.length, 1);
  assert.deepEqual("fail" in pg[0]! ? pg[0].fail : null, { code: "40001" });
  assert.equal(pg[0]!.probability, 0.1);
  const my = r.get("mysql-deadlocks")!.spec.requests;
  assert.deepEqual("fail" in my[0]! ? my[0].fail : null, { errno: 1213 });
  const rd = r.get("redis-oom")!.spec.requests;
  assert.deepEqual("fail" in rd[0]! ? rd[0].fail : null, { error: "OOM" });
  assert.ok(Array.isArray(rd[0]!.match.command) && rd[0]!.match.command.includes("SET"));
});

test("built-in dns and udp profiles: servfail, nxdomain for a name set with set, empty answers, slow answers, lossy datagrams", async () => {
  const r = await ProfileRegistry.load([]);
  const servfail = r.get("dns-servfail")!.spec.requests;
  assert.deepEqual("fail" in servfail[0]! ? servfail[0].fail : null, { error: "SERVFAIL" });
  const empty = r.get("dns-empty-answer")!.spec.requests;
  assert.deepEqual("answer" in empty[0]! ? empty[0].answer : null, "empty");
  assert.deepEqual("delay" in r.get("dns-slow")!.spec.requests[0]! ? r.get("dns-slow")!.spec.requests[0] : null, { match: {}, delay: 5000, probability: 1, times: null, after: 0 });
  const lossy = r.get("lossy-udp")!.spec;
  assert.equal(lossy.up.duplicate, 0.005);
  assert.equal(lossy.down.loss, 0.02);
  // the name pattern of dns-nxdomain-for is set with set (as --set does)
  const set = resolveImpairment(r, { profile: "dns-nxdomain-for", set: { "requests[0].match.name": "*.db.internal" } });
  assert.ok(set.ok, JSON.stringify(set));
  assert.deepEqual(set.spec.requests[0]!.match, { name: "*.db.internal" });
  assert.deepEqual("fail" in set.spec.requests[0]! ? set.spec.requests[0].fail : null, { error: "NXDOMAIN" });
  const bad = resolveImpairment(r, { profile: "dns-nxdomain-for", set: { "requests[3].match.name": "x" } });
  assert.ok(!bad.ok);
  assert.match(JSON.stringify(bad.errors), /set\.requests\[3\]\.match\.name.*has 1 request rule/);
  const badValue = resolveImpairment(r, { profile: "dns-nxdomain-for", set: { "requests.0.probability": "lots" } });
  assert.ok(!badValue.ok);
  assert.match(JSON.stringify(badValue.errors), /set\.requests\[0\]\.probability/);
});
