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
  FELT_DOWN_BPS,
  FELT_PROFILE,
  FELT_RTT_MS,
  FELT_UP_BPS,
  HALF_OPEN_NOW,
  RESET_NOW,
  SLICES,
  STALLS,
  STALL_MS,
  describeError,
  elapsed,
  eventually,
  failureOf,
  measured,
  repeatFor,
  startProxyRig,
  type ProxyRig,
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
  let rig: ProxyRig;
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
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    rig = await startProxyRig("grpc", `127.0.0.1:${port}`);
  });

  after(async () => {
    for (const c of clients) c.close();
    if (rig) await rig.close();
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
    await rig.apply(FELT_PROFILE);
    try {
      const n = 5;
      const ms = await elapsed(async () => {
        for (let i = 0; i < n; i++) await unary(c, { seq: i });
      });
      measured(t, `${n} sequential unary calls: ${ms.toFixed(0)} ms (>= ${n} x ${FELT_RTT_MS} ms)`);
      assert.ok(ms >= n * FELT_RTT_MS * 0.95, `${n} calls took ${ms.toFixed(0)} ms`);
      const chatMs = await elapsed(() => chat(c, n));
      measured(t, `${n} bidi exchanges: ${chatMs.toFixed(0)} ms`);
      assert.ok(chatMs >= n * FELT_RTT_MS * 0.95, `${n} exchanges took ${chatMs.toFixed(0)} ms`);

      const up = randomBytes(60_000);
      const upMs = await elapsed(() => unary(c, { seq: 1, data: up }));
      const upFloor = (up.length * 8 * 1000) / FELT_UP_BPS;
      measured(t, `60 kB request (echoed back): ${upMs.toFixed(0)} ms (size / up bandwidth = ${upFloor.toFixed(0)} ms)`);
      assert.ok(upMs >= upFloor * 0.9, `call took ${upMs.toFixed(0)} ms`);
      let items: Msg[] = [];
      const downMs = await elapsed(async () => {
        items = await collect(c.Stream({ n: 60, size: 1000 }));
      });
      const downFloor = (60_000 * 8 * 1000) / FELT_DOWN_BPS;
      measured(t, `60 x 1 kB server stream: ${downMs.toFixed(0)} ms (size / down bandwidth = ${downFloor.toFixed(0)} ms)`);
      assert.equal(items.length, 60);
      assert.ok(downMs >= downFloor * 0.9, `stream took ${downMs.toFixed(0)} ms`);
      assert.ok(downMs < downFloor * 4 + 2000, `stream took ${downMs.toFixed(0)} ms`);
    } finally {
      await rig.clear();
    }
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
    await rig.apply("clean", HALF_OPEN_NOW);
    try {
      const watchStream = failureOf(streamFailed, 6000, "idle bidi stream under keepalive");
      const f = await failureOf(unary(guarded, { seq: 1 }, { deadline: Date.now() + 1000 }), 5000, "call with a 1 s deadline");
      measured(t, `deadline 1 s: failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      assert.equal((f.error as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED);
      const k = await watchStream;
      measured(t, `keepalive_time 1 s + keepalive_timeout 1 s: open stream failed after ${k.ms.toFixed(0)} ms: ${describeError(k.error)}`);
      assert.equal((k.error as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
      assert.ok(k.ms < 4500, `${k.ms} ms`);
    } finally {
      await rig.clear();
    }
    await eventually(() => unary(guarded, { seq: 2 }, { deadline: Date.now() + 2000 }), 10_000);
  });

  test("stall: calls wait out stalls and return correct messages", async (t) => {
    const c = client();
    await unary(c, { seq: 0 });
    await rig.apply("clean", STALLS);
    try {
      const r = await repeatFor(1300, async (i) => {
        const m = await unary(c, { seq: i, text: `call ${i}` });
        assert.equal(m.text, `call ${i}`);
      });
      measured(t, `${r.count} unary calls in 1.3 s under stalls, slowest ${r.maxMs.toFixed(0)} ms (stall ${STALL_MS} ms)`);
      assert.ok(r.maxMs >= STALL_MS * 0.8, `slowest call ${r.maxMs.toFixed(0)} ms`);
    } finally {
      await rig.clear();
    }
  });

  test("slicing: 7-byte pieces both ways (HTTP/2 frame headers split) deliver correct messages", async (t) => {
    await rig.apply("clean", SLICES);
    const c = client();
    try {
      const ms = await elapsed(async () => {
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
      measured(t, `connect + unary + 20-message stream + 10 bidi exchanges under 7 B slices: ${ms.toFixed(0)} ms`);
    } finally {
      await rig.clear();
    }
  });
});
