// Verdicts on the client over gRPC: the real `netimpair run` with `expect:` and, as its command,
// @grpc/grpc-js with its own retry policy and a deadline, or without either (retrying at once by
// hand), against an in-process gRPC server through the agent's grpc proxy. Retries are the same
// method and message again; a deadline is the client's RST_STREAM (CANCEL) before the answer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { clientProgram, verdictLab, type VerdictLab } from "../support/verdict-lab.js";

const PROTO = `
syntax = "proto3";
package netimpair.verdicts;
message Msg { int32 seq = 1; string text = 2; }
service Pay {
  rpc Charge (Msg) returns (Msg);
  rpc Slow (Msg) returns (Msg);
  rpc Warm (Msg) returns (Msg);
}
`;

interface Msg {
  seq: number;
  text: string;
}

let dir = "";
let proto = "";
let server: grpc.Server;
let lab: VerdictLab;
/** the Charge calls that reached the server */
let charged = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "netimpair-grpc-verdicts-"));
  proto = join(dir, "pay.proto");
  await writeFile(proto, PROTO);
  const def = protoLoader.loadSync(proto, { defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { netimpair: { verdicts: { Pay: { service: grpc.ServiceDefinition } } } };
  server = new grpc.Server();
  const echo = (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>): void => cb(null, call.request);
  server.addService(pkg.netimpair.verdicts.Pay.service, {
    Charge: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      charged++;
      echo(call, cb);
    },
    Slow: echo,
    Warm: echo,
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  lab = await verdictLab([`pay=127.0.0.1:0,127.0.0.1:${port},grpc`]);
});
after(async () => {
  await lab?.close();
  server?.forceShutdown();
  await rm(dir, { recursive: true, force: true });
});

const SCENARIO = `
name: grpc-verdicts
proxies: [pay]
steps:
  - at: 0s
    apply:
      requests:
        - match: {method: "/netimpair.verdicts.Pay/Charge"}
          fail: {status: UNAVAILABLE}
        - match: {method: "/netimpair.verdicts.Pay/Slow"}
          delay: 2s
expect:
  - proxy: pay
    retries: {max: 3}
    timeout: {max: 1s}
`;

function within(v: number | null | undefined, lo: number, hi: number, what: string): void {
  assert.ok(typeof v === "number" && v >= lo && v <= hi, `${what}: ${v} not within ${lo}..${hi}`);
}

test("grpc-js with its retry policy and a deadline passes; retries spaced within its backoff", async () => {
  charged = 0;
  const run = await lab.run(SCENARIO, [process.execPath, clientProgram("grpc-client"), "--proto", proto, "--address", `127.0.0.1:${lab.agent.port("pay")}`, "--mode", "policy", "--backoff", "200", "--timeout", "400"]);
  const c = run.report.clients?.pay;
  assert.ok(c, run.stderr);
  assert.equal(run.code, 0, `${run.stderr}\n${JSON.stringify(run.report.expectations, null, 1)}\n${run.stdout}`);
  // maxAttempts 4: 3 retries of each failed Charge
  assert.equal(c.retries.perFailure.max, 3, JSON.stringify(c));
  // gRPC's backoff is full jitter: retry n waits random(0, 200 ms x 2^(n-1)); the medians stay
  // below those caps (plus the scheduling of a loaded machine: a new stream, the agent's answer)
  const caps = [200, 400, 800];
  c.retries.spacingMs.forEach((ms, i) => within(ms, 0, caps[i]! * 1.1 + 250, `retry ${i + 1} spacing`));
  // the deadline: each Slow call cancelled after the client's 400 ms
  assert.equal(c.timeouts.abandoned, 2, JSON.stringify(c.timeouts));
  assert.equal(c.timeouts.neverGaveUp, 0);
  within(c.timeouts.p50Ms, 360, 480 + 60, "cancelled after");
  for (const e of run.report.expectations ?? []) assert.ok(e.held && e.got !== null, JSON.stringify(e));
  // the server got no Charge (the agent answered each)
  assert.equal(charged, 0);
});

test("grpc-js without a retry policy, retrying at once by hand and without a deadline, breaks each expectation", async () => {
  const run = await lab.run(SCENARIO, [process.execPath, clientProgram("grpc-client"), "--proto", proto, "--address", `127.0.0.1:${lab.agent.port("pay")}`, "--mode", "careless"]);
  const c = run.report.clients?.pay;
  assert.ok(c, run.stderr);
  assert.equal(run.code, 1, run.stderr);
  assert.equal(c.retries.perFailure.max, 9, JSON.stringify(c));
  assert.equal(c.timeouts.neverGaveUp, 2, JSON.stringify(c.timeouts));
  assert.deepEqual((run.report.expectations ?? []).filter((e) => !e.held).map((e) => e.what), ["retries", "timeout"]);
});
