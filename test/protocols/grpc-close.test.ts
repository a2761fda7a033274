// A grpc proxy lets go of a connection once the client closes its channel: the agent the CLI
// starts lists no connection afterwards (conn.list, `netimpair status` CONNS). Found following
// docs/request-faults.md: about half of the closed channels stayed listed for ever, because the
// server's FIN arrived after the agent's HTTP/2 session toward it had closed, the agent paused
// the socket instead of reading it, and never saw the end.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

const PROTO = `syntax = "proto3"; package closing; message M { int32 n = 1; } service S { rpc Call (M) returns (M); }`;
type Caller = grpc.Client & { Call(m: { n: number }, cb: (e: grpc.ServiceError | null, r?: { n: number }) => void): void };
type Ctor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => Caller;

let dir: string;
let server: grpc.Server;
let agent: CliAgent;
let S: Ctor;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "netimpair-grpc-close-"));
  await writeFile(join(dir, "c.proto"), PROTO);
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, "c.proto"))) as unknown as { closing: { S: Ctor & { service: grpc.ServiceDefinition } } };
  S = pkg.closing.S;
  server = new grpc.Server();
  server.addService(pkg.closing.S.service, { Call: (c: grpc.ServerUnaryCall<{ n: number }, { n: number }>, cb: grpc.sendUnaryData<{ n: number }>) => cb(null, c.request) });
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  agent = await startCliAgent([`rpc=127.0.0.1:0,127.0.0.1:${port},grpc`]);
});

after(async () => {
  await agent?.close();
  server?.forceShutdown();
  await rm(dir, { recursive: true, force: true });
});

test("every channel closed by its client leaves the agent's connection list (12 channels, one after another)", async () => {
  const port = agent.port("rpc");
  for (let i = 0; i < 12; i++) {
    const c = new S(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    const r = await new Promise<{ n: number }>((res, rej) => c.Call({ n: i }, (e, v) => (e ? rej(e) : res(v!))));
    assert.equal(r.n, i);
    c.close();
    // the next channel opens while this one is still closing, as clients do
    await new Promise((r) => setTimeout(r, 50));
  }
  const deadline = Date.now() + 10_000;
  let live = await agent.ctl.call("conn.list", { proxy: "rpc" });
  while (live.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    live = await agent.ctl.call("conn.list", { proxy: "rpc" });
  }
  assert.deepEqual(
    live.map((c) => c.id),
    [],
    "connections still listed 10 s after their clients closed",
  );
});
