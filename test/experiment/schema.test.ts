// The experiment fields of a scenario: what they parse to, and errors with file, line and field.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatScenarioError, parseScenarioText, ScenarioLoadError } from "../../src/scenario/load.js";
import type { Scenario } from "../../src/scenario/types.js";

const noTraces = async (): Promise<string> => {
  throw new Error("no traces here");
};

async function load(text: string): Promise<Scenario> {
  return parseScenarioText("exp.yaml", text, noTraces);
}

async function errors(text: string): Promise<string[]> {
  try {
    await load(text);
  } catch (err) {
    if (err instanceof ScenarioLoadError) return err.errors.map(formatScenarioError);
    throw err;
  }
  assert.fail("expected errors");
}

const STEPS = "proxies: [api]\nsteps:\n  - {at: 0s, apply: partition, for: 10s}\n";

test("the SPEC's example parses: probes of each kind, slo, steadyState, abortWhen, notify", async () => {
  const s = await load(
    [
      "probes:",
      '  - {name: api, http: {url: "http://127.0.0.1:8080/health", status: 200}, every: 500ms, timeout: 2s}',
      "  - {name: db, exec: \"psql -h 127.0.0.1 -p 15432 -U postgres -c 'select 1'\", every: 1s}",
      '  - {name: port, tcp: "127.0.0.1:6379", every: 1s}',
      "  - {name: body, http: {url: \"https://example.test/ready\", method: head, body: ready}}",
      "slo: {api: {availability: 99%, p95: 300ms, recovery: 5s}, port: {p99: 1s}}",
      "steadyState: {before: 10s, after: 10s}",
      "abortWhen: {probe: api, availabilityBelow: 80%, over: 10s}",
      'notify: {webhook: "https://hooks.example.com/T000/B000", on: [failed, aborted]}',
      STEPS,
    ].join("\n"),
  );
  const e = s.experiment!;
  assert.deepEqual(e.probes, [
    { name: "api", check: { kind: "http", url: "http://127.0.0.1:8080/health", method: "GET", status: 200 }, every: 500, timeout: 2000 },
    { name: "db", check: { kind: "exec", command: "psql -h 127.0.0.1 -p 15432 -U postgres -c 'select 1'" }, every: 1000, timeout: 2000 },
    { name: "port", check: { kind: "tcp", host: "127.0.0.1", port: 6379 }, every: 1000, timeout: 2000 },
    { name: "body", check: { kind: "http", url: "https://example.test/ready", method: "HEAD", status: 200, body: "ready" }, every: 1000, timeout: 2000 },
  ]);
  assert.deepEqual(e.slo, { api: { availability: 0.99, p95: 300, recovery: 5000 }, port: { p99: 1000 } });
  assert.deepEqual(e.steadyState, { before: 10_000, after: 10_000 });
  assert.deepEqual(e.abortWhen, { probe: "api", availabilityBelow: 0.8, over: 10_000 });
  assert.deepEqual(e.notify, { webhook: "https://hooks.example.com/T000/B000", on: ["failed", "aborted"] });
  assert.equal((await load(STEPS)).experiment, null, "a scenario without the fields has no experiment");
});

test("experiment errors name the file, the line and the field", async () => {
  const text = [
    "proxies: [api]", //                                                      1
    "probes:", //                                                             2
    '  - {name: api, http: {url: "ftp://x/", status: 700}, every: 10ms}', //  3
    '  - {name: api, tcp: "127.0.0.1"}', //                                   4
    "  - {name: run, exec: 42}", //                                            5
    "  - {name: two, tcp: '127.0.0.1:1', exec: 'true'}", //                    6
    "slo:", //                                                                7
    "  apj: {availability: 99%}", //                                           8
    "steadyState: {before: soon}", //                                         9
    "abortWhen: {probe: nope, availabilityBelow: 120%, over: 1s}", //        10
    "notify: {webhook: not-a-url, on: [broken]}", //                          11
    "steps:",
    "  - {at: 0s, apply: partition}",
  ].join("\n");
  const got = await errors(text);
  const expect: [number, RegExp][] = [
    [3, /^exp\.yaml:3: probes\.0\.http\.url: expected an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x\/"$/],
    [3, /^exp\.yaml:3: probes\.0\.http\.status: expected an HTTP status from 100 to 599, got 700$/],
    [3, /^exp\.yaml:3: probes\.0\.every: expected a duration of at least 50ms, got "10ms"$/],
    [4, /^exp\.yaml:4: probes\.1\.name: probe "api" is given twice$/],
    [4, /^exp\.yaml:4: probes\.1\.tcp: expected HOST:PORT like 127\.0\.0\.1:6379, got "127\.0\.0\.1"$/],
    [5, /^exp\.yaml:5: probes\.2\.exec: expected a shell command \(exit 0 is a success\), got 42$/],
    [6, /^exp\.yaml:6: probes\.3: a probe has one kind; this one has tcp and exec$/],
    [8, /^exp\.yaml:8: slo\.apj: no probe is named "apj" \(did you mean api\?\)$/],
    [9, /^exp\.yaml:9: steadyState\.before: expected a duration/],
    [10, /^exp\.yaml:10: abortWhen\.probe: expected the name of a probe/],
    [10, /^exp\.yaml:10: abortWhen\.availabilityBelow: expected a share like 0\.05, 5% .*above 100%/],
    [11, /^exp\.yaml:11: notify\.webhook: expected an http:\/\/ or https:\/\/ URL/],
    [11, /^exp\.yaml:11: notify\.on\.0: expected one of passed, failed, aborted, got "broken"$/],
  ];
  for (const [, re] of expect) assert.ok(got.some((line) => re.test(line)), `no error like ${re}\n${got.join("\n")}`);
  assert.equal(got.length, expect.length, got.join("\n"));
});

test("slo, steadyState and abortWhen need probes; unknown fields get a suggestion", async () => {
  assert.deepEqual(await errors(`slo: {api: {availability: 99%}}\n${STEPS}`), [
    "exp.yaml:1: slo: slo watches probes: add probes: [{name: api, http: {url: ...}}]",
    'exp.yaml:1: slo.api: no probe is named "api"',
  ]);
  const typo = await errors(`probes:\n  - {name: api, tcp: "127.0.0.1:80", evry: 1s}\nslo: {api: {availabilty: 99%}}\nsteadystate: {before: 1s}\n${STEPS}`);
  assert.ok(typo.includes('exp.yaml:2: probes.0.evry: unknown field "evry" (did you mean every?)'), typo.join("\n"));
  assert.ok(typo.includes('exp.yaml:3: slo.api.availabilty: unknown field "availabilty" (did you mean availability?)'), typo.join("\n"));
  assert.ok(typo.some((l) => l.startsWith('exp.yaml:4: steadystate: unknown field "steadystate" (did you mean steadyState?)')), typo.join("\n"));
  const short = await errors(`probes:\n  - {name: api, tcp: "127.0.0.1:80", every: 2s}\nsteadyState: {before: 1s}\n${STEPS}`);
  assert.deepEqual(short, [`exp.yaml:3: steadyState.before: expected at least the slowest probe's every (2000ms), so each probe gets a sample, got "1s"`]);
});
