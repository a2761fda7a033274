// Verdicts on the client over HTTP/1.1: the real `netimpair run` with `expect:` and, as its
// command, a client written to a known behaviour (undici's fetch, axios, opossum's breaker)
// talking to a real HTTP service through the agent's http proxy. A careful client passes every
// expectation; a careless one breaks each, with the figure that shows it; spacing and timeouts
// are within tolerant bounds of what the client was set to.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { ExpectationResult } from "../../src/report/clients.js";
import { clientProgram, startService, verdictLab, type Service, type VerdictLab, type VerdictRun } from "../support/verdict-lab.js";

let service: Service;
let lab: VerdictLab;

before(async () => {
  service = await startService();
  lab = await verdictLab([`api=127.0.0.1:0,127.0.0.1:${service.port},http`]);
});
after(async () => {
  await lab?.close();
  await service?.close();
});

// every charge fails (503 from the agent); each slow request is held 2 s; the careless run also
// expects a circuit breaker (the careful client has none: it is judged by the opossum test)
const SCENARIO = (breaker: boolean): string => `
name: client-verdicts
proxies: [api]
steps:
  - at: 0s
    apply:
      requests:
        - match: {path: "/charge/*"}
          fail: {status: 503}
        - match: {path: "/slow/*"}
          delay: 2s
expect:
  - proxy: api
    retries: {max: 3}
    backoff: {first: 100ms, growth: 1.5}
    timeout: {max: 1s}
${breaker ? "    circuitBreaker: {opensAfter: 5, pause: 500ms}" : ""}
`;

function verdict(run: VerdictRun, what: string): ExpectationResult {
  const e = run.report.expectations?.find((x) => x.what === what);
  assert.ok(e, `no ${what} expectation in ${JSON.stringify(run.report.expectations)}`);
  return e;
}

function within(v: number | null | undefined, lo: number, hi: number, what: string): void {
  assert.ok(typeof v === "number" && v >= lo && v <= hi, `${what}: ${v} not within ${lo}..${hi}`);
}

async function careful(lib: "fetch" | "axios"): Promise<VerdictRun> {
  const hitsBefore = service.hits.length;
  const run = await lab.run(SCENARIO(false), [process.execPath, clientProgram("http-client"), "--url", lab.base("api"), "--lib", lib, "--mode", "careful", "--requests", "2", "--slow", "2", "--retries", "3", "--backoff", "150", "--timeout", "400"]);
  const c = run.report.clients?.api;
  assert.ok(c, run.stderr);
  assert.equal(run.code, 0, `${run.stderr}\n${JSON.stringify(run.report.expectations, null, 1)}`);
  // 5 warm-ups + 2 charges x (1 + 3 retries) + 2 slow requests, 9 distinct
  assert.equal(c.requests, 15, JSON.stringify(c));
  assert.equal(c.retries.perFailure.max, 3);
  assert.equal(c.amplification, 1.67);
  // the client waits 150 ms x 2^k x 1.0..1.2 after each failed answer: within 10 % (and the
  // loaded machine's scheduling, upward) of that
  within(c.retries.spacingMs[0], 135, 150 * 1.2 * 1.1 + 60, "1st retry spacing");
  within(c.retries.spacingMs[1], 270, 300 * 1.2 * 1.1 + 60, "2nd retry spacing");
  within(c.retries.spacingMs[2], 540, 600 * 1.2 * 1.1 + 60, "3rd retry spacing");
  // each slow request was given up after the client's 400 ms
  assert.equal(c.timeouts.abandoned, 2);
  assert.equal(c.timeouts.neverGaveUp, 0);
  within(c.timeouts.p50Ms, 360, 480, "abandoned after");
  assert.equal(run.report.expectations?.length, 3);
  for (const e of run.report.expectations ?? []) assert.ok(e.held && e.got !== null, JSON.stringify(e));
  // what the service holds: no charge reached it (the agent answered each); the held slow requests went on after their delay
  const hits = service.hits.slice(hitsBefore);
  assert.equal(hits.filter((h) => h.path.startsWith("/charge/")).length, 0);
  return run;
}

async function careless(lib: "fetch" | "axios"): Promise<VerdictRun> {
  const run = await lab.run(SCENARIO(true), [process.execPath, clientProgram("http-client"), "--url", lab.base("api"), "--lib", lib, "--mode", "careless", "--requests", "2", "--slow", "2"]);
  const c = run.report.clients?.api;
  assert.ok(c, run.stderr);
  assert.equal(run.code, 1, `a broken expectation fails the run: ${run.stderr}`);
  // 10 attempts of each charge: 9 retries, at once
  assert.equal(c.retries.perFailure.max, 9);
  const retries = verdict(run, "retries");
  assert.equal(retries.held, false);
  assert.equal(retries.got?.max, 9);
  assert.match(retries.text, /retried up to 9 times/);
  const backoff = verdict(run, "backoff");
  assert.equal(backoff.held, false);
  // immediate retries: each waits only the round trip (well under the 100 ms expected, even loaded)
  assert.ok(c.retries.spacingMs.every((ms) => ms < 100), `immediate retries: ${c.retries.spacingMs.join(", ")}`);
  const timeout = verdict(run, "timeout");
  assert.equal(timeout.held, false);
  assert.equal(c.timeouts.neverGaveUp, 2);
  assert.match(timeout.text, /never gave up/);
  const breaker = verdict(run, "circuitBreaker");
  assert.equal(breaker.held, false);
  assert.ok(c.breaker.maxFailuresInRow >= 20, JSON.stringify(c.breaker));
  // each broken expectation is a failed JUnit testcase, with its figure
  assert.equal((run.junit.match(/type="ExpectationBroken"/g) ?? []).length, 4);
  assert.match(run.junit, /retried up to 9 times/);
  assert.match(run.markdown, /### Client verdicts/);
  assert.match(run.markdown, /4 expectations broken/);
  return run;
}

test("fetch (undici), careful: bounded retries with exponential backoff and a timeout pass every expectation", async () => {
  const run = await careful("fetch");
  assert.match(run.junit, /name="expect api retries: at most 3 retries"/);
  assert.doesNotMatch(run.junit, /ExpectationBroken/);
  assert.match(run.markdown, /Every expectation held/);
  assert.match(run.html, /<section id="client-verdicts">/);
  assert.match(run.html, /<svg class="attempts"/);
  assert.match(run.html, /<svg class="spacing"/);
});

test("fetch (undici), careless: immediate retries without a timeout break each expectation", async () => {
  await careless("fetch");
});

test("axios, careful passes", async () => {
  await careful("axios");
});

test("axios, careless fails each expectation", async () => {
  await careless("axios");
});

test("opossum circuit breaker: opens after its volume of failures and pauses for its reset timeout", async () => {
  const scenario = `
name: breaker
proxies: [api]
steps:
  - at: 0s
    apply:
      requests:
        - match: {path: "/dep"}
          fail: {status: 503}
expect:
  - proxy: api
    circuitBreaker: {opensAfter: 6, pause: 500ms}
`;
  const run = await lab.run(scenario, [process.execPath, clientProgram("breaker-client"), "--url", lab.base("api"), "--every", "20", "--for", "2500", "--volume", "5", "--reset", "800"]);
  const b = run.report.clients?.api?.breaker;
  assert.ok(b, run.stderr);
  assert.equal(run.code, 0, `${run.stderr}\n${JSON.stringify(run.report.expectations)}`);
  assert.equal(b.opened, true);
  // opossum opens once its volume (5) is reached with every call failed: on the 5th or, as it
  // counts the call in flight, the 6th failure
  within(b.afterFailures, 5, 6, "failures before the breaker opened");
  // opossum half-opens after its 800 ms reset timeout (the next call comes on the client's 20 ms tick)
  within(b.pauseMs, 760, 1000, "breaker pause");
  assert.equal(verdict(run, "circuitBreaker").held, true);
});
