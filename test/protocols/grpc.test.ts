// gRPC over HTTP/2 (@grpc/grpc-js + @grpc/proto-loader) through the agent: an in-process server
// with unary, server-streaming and bidirectional methods.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import {
  FELT_PROFILE,
  FELT_RTT_MS,
  HALF_OPEN_NOW,
  RESET_NOW,
  assertDownFloor,
  assertRoundTrips,
  assertUpFloor,
  assertWaitsOutStalls,
  describeError,
  elapsed,
  eventually,
  failureOf,
  measureSliced,
  measured,
  useProxyRig,
} from "./rig.js";

const PROTO = `
syntax = "proto3";
package netimpair.test;
message Msg { int32 seq = 1; string text = 2; bytes data = 3; }
message Count { int32 n = 1; int32 size = 2; }
service Echo {
  rpc Unary (Msg) returns (Msg);
  rpc Stream (Count) returns (stream Msg);
  rpc Chat (stream Msg) returns (stream Msg);
}
`;

interface Msg {
  seq: number;
  text: string;
  data: Buffer;
}
interface Count {
  n: number;
  size: number;
}
/** Deterministic payload of message `seq` of a stream. */
const payload = (seq: number, size: number): Buffer => Buffer.alloc(size, seq % 251);

interface EchoClient extends grpc.Client {
  Unary(msg: Partial<Msg>, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientUnaryCall;
  Stream(req: Count, options?: grpc.CallOptions): grpc.ClientReadableStream<Msg>;
  Chat(options?: grpc.CallOptions): grpc.ClientDuplexStream<Partial<Msg>, Msg>;
}
type EchoClientConstructor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => EchoClient;

function unary(c: EchoClient, msg: Partial<Msg>, options: grpc.CallOptions = {}): Promise<Msg> {
  return new Promise((resolve, reject) => {
    c.Unary(msg, options, (err, res) => (err ? reject(err) : res ? resolve(res) : reject(new Error("no response"))));
  });
}

function collect(stream: grpc.ClientReadableStream<Msg>): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const got: Msg[] = [];
    stream.on("data", (m: Msg) => got.push(m));
    stream.on("error", reject);
    stream.on("end", () => resolve(got));
  });
}

/** Runs `n` request/response exchanges on one bidi stream; resolves with the replies. */
function chat(c: EchoClient, n: number): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const call = c.Chat();
    const got: Msg[] = [];
    call.on("error", reject);
    call.on("data", (m: Msg) => {
      got.push(m);
      if (got.length < n) call.write({ seq: got.length, text: `ping ${got.length}` });
      else call.end();
    });
    call.on("end", () => resolve(got));
    call.write({ seq: 0, text: "ping 0" });
  });
}

describe("gRPC through the agent (@grpc/grpc-js)", () => {
  let server: grpc.Server;
  let Echo: EchoClientConstructor;
  let dir = "";
  const clients: EchoClient[] = [];

  function client(options: grpc.ChannelOptions = {}): EchoClient {
    const c = new Echo(`127.0.0.1:${rig.port}`, grpc.credentials.createInsecure(), {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 500,
      // its own connection: grpc-js shares one between clients of equal options by default, and a
      // connection left half-open by one test must not be another test's
      "grpc.use_local_subchannel_pool": 1,
      ...options,
    });
    clients.push(c);
    return c;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "netimpair-grpc-"));
    await writeFile(join(dir, "echo.proto"), PROTO);
    const def = protoLoader.loadSync(join(dir, "echo.proto"), { defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { netimpair: { test: { Echo: EchoClientConstructor & { service: grpc.ServiceDefinition } } } };
    Echo = pkg.netimpair.test.Echo;
    server = new grpc.Server({
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": 100,
    } as grpc.ServerOptions);
    server.addService(pkg.netimpair.test.Echo.service, {
      Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        cb(null, { seq: call.request.seq, text: call.request.text, data: call.request.data });
      },
      Stream: (call: grpc.ServerWritableStream<Count, Msg>) => {
        for (let i = 0; i < call.request.n; i++) call.write({ seq: i, text: `item ${i}`, data: payload(i, call.request.size) });
        call.end();
      },
      Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
        call.on("data", (m: Msg) => call.write({ seq: m.seq, text: `pong: ${m.text}`, data: m.data }));
        call.on("end", () => call.end());
        call.on("error", () => {});
      },
    });
  });

  // registered after the before hook above: the rig starts once the server is set up
  const rig = useProxyRig(
    "grpc",
    async () => {
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      );
      return `127.0.0.1:${port}`;
    },
    async () => {
      for (const c of clients) c.close();
    },
  );

  after(async () => {
    if (server) server.forceShutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("clean: unary, server streaming and bidirectional streaming come through intact", async () => {
    const c = client();
    const data = randomBytes(100_000);
    const r = await unary(c, { seq: 7, text: "hello", data });
    assert.equal(r.text, "hello");
    assert.ok(data.equals(r.data));
    const items = await collect(c.Stream({ n: 200, size: 1000 }));
    assert.equal(items.length, 200);
    items.forEach((m, i) => {
      assert.equal(m.seq, i);
      assert.ok(payload(i, 1000).equals(m.data));
    });
    const replies = await chat(c, 50);
    assert.deepEqual(
      replies.map((m) => m.text),
      Array.from({ length: 50 }, (_, i) => `pong: ping ${i}`),
    );
  });

  test(`profile felt: ${FELT_PROFILE} makes each unary call a round trip and streams take size / bandwidth`, async (t) => {
    const c = client();
    await unary(c, { seq: 0 });
    await rig.during(FELT_PROFILE, undefined, async () => {
      const n = 5;
      await assertRoundTrips(t, "unary calls", n, (i) => unary(c, { seq: i }));
      const chatMs = await elapsed(() => chat(c, n));
      measured(t, `${n} bidi exchanges: ${chatMs.toFixed(0)} ms`);
      assert.ok(chatMs >= n * FELT_RTT_MS * 0.95, `${n} exchanges took ${chatMs.toFixed(0)} ms`);

      const up = randomBytes(60_000);
      await assertUpFloor(t, "60 kB request (echoed back)", up.length, () => unary(c, { seq: 1, data: up }));
      let items: Msg[] = [];
      await assertDownFloor(t, "60 x 1 kB server stream", 60_000, async () => {
        items = await collect(c.Stream({ n: 60, size: 1000 }));
      });
      assert.equal(items.length, 60);
    });
  });

  test("reset: an open stream fails UNAVAILABLE; the channel reconnects after clear", async (t) => {
    const c = client();
    await unary(c, { seq: 0 });
    const call = c.Chat();
    const failed = new Promise<never>((_, reject) => call.on("error", reject));
    call.on("data", () => {});
    call.write({ seq: 0, text: "open" });
    await rig.apply("clean", RESET_NOW);
    const f = await failureOf(failed, 5000, "bidi stream during reset");
    measured(t, `open bidi stream failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
    assert.equal((f.error as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
    const next = await failureOf(unary(c, { seq: 1 }, { deadline: Date.now() + 3000 }), 5000, "call while reset applies");
    measured(t, `a call while applied: ${describeError(next.error)}`);
    await rig.clear();
    const ms = await elapsed(() => eventually(() => unary(c, { seq: 2, text: "back" }, { deadline: Date.now() + 2000 }), 10_000));
    measured(t, `first successful call after clear: ${ms.toFixed(0)} ms (reconnect backoff 100-500 ms)`);
  });

  test("half-open: a deadline fails the call; HTTP/2 keepalive pings notice the dead connection", async (t) => {
    const guarded = client({ "grpc.keepalive_time_ms": 1000, "grpc.keepalive_timeout_ms": 1000, "grpc.keepalive_permit_without_calls": 1 });
    await unary(guarded, { seq: 0 });
    const stream = guarded.Chat();
    const streamFailed = new Promise<never>((_, reject) => stream.on("error", reject));
    stream.on("data", () => {});
    stream.write({ seq: 0, text: "open" });
    await rig.during("clean", HALF_OPEN_NOW, async () => {
      const watchStream = failureOf(streamFailed, 6000, "idle bidi stream under keepalive");
      const f = await failureOf(unary(guarded, { seq: 1 }, { deadline: Date.now() + 1000 }), 5000, "call with a 1 s deadline");
      measured(t, `deadline 1 s: failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      assert.equal((f.error as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED);
      const k = await watchStream;
      measured(t, `keepalive_time 1 s + keepalive_timeout 1 s: open stream failed after ${k.ms.toFixed(0)} ms: ${describeError(k.error)}`);
      assert.equal((k.error as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
      assert.ok(k.ms < 4500, `${k.ms} ms`);
    });
    await eventually(() => unary(guarded, { seq: 2 }, { deadline: Date.now() + 2000 }), 10_000);
  });

  test("stall: calls wait out stalls and return correct messages", async (t) => {
    const c = client();
    await unary(c, { seq: 0 });
    await assertWaitsOutStalls(rig, t, "unary calls", async (i) => {
      const m = await unary(c, { seq: i, text: `call ${i}` });
      assert.equal(m.text, `call ${i}`);
    });
  });

  test("slicing: 7-byte pieces both ways (HTTP/2 frame headers split) deliver correct messages", async (t) => {
    await measureSliced(rig, t, "connect + unary + 20-message stream + 10 bidi exchanges", async () => {
      const c = client();
      const r = await unary(c, { seq: 1, text: "sliced", data: payload(1, 500) });
      assert.ok(payload(1, 500).equals(r.data));
      const items = await collect(c.Stream({ n: 20, size: 100 }));
      assert.deepEqual(
        items.map((m) => m.seq),
        Array.from({ length: 20 }, (_, i) => i),
      );
      items.forEach((m, i) => assert.ok(payload(i, 100).equals(m.data)));
      const replies = await chat(c, 10);
      assert.equal(replies.length, 10);
    });
  });
});
