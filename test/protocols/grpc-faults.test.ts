// Request faults on a grpc proxy (protocol: grpc, HTTP/2 spliced by the agent) with
// @grpc/grpc-js: unary, server streaming and bidi calls; the server counts what reaches it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { performance } from "node:perf_hooks";
import { describeError, elapsed, failureOf, measured, sleep, startProxyRig, type ProxyRig } from "./rig.js";

const PROTO = `
syntax = "proto3";
package shop;
message Msg { int32 seq = 1; string text = 2; }
service Orders {
  rpc Place (Msg) returns (Msg);
  rpc Get (Msg) returns (Msg);
  rpc Watch (Msg) returns (stream Msg);
  rpc Chat (stream Msg) returns (stream Msg);
}
`;

interface Msg {
  seq: number;
  text: string;
}
type Cb = (err: grpc.ServiceError | null, res?: Msg) => void;
interface OrdersClient extends grpc.Client {
  Place(m: Partial<Msg>, md: grpc.Metadata, o: grpc.CallOptions, cb: Cb): grpc.ClientUnaryCall;
  Get(m: Partial<Msg>, md: grpc.Metadata, o: grpc.CallOptions, cb: Cb): grpc.ClientUnaryCall;
  Watch(m: Partial<Msg>): grpc.ClientReadableStream<Msg>;
  Chat(): grpc.ClientDuplexStream<Partial<Msg>, Msg>;
}
type Ctor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => OrdersClient;

function call(c: OrdersClient, method: "Place" | "Get", m: Partial<Msg>, md: Record<string, string> = {}, options: grpc.CallOptions = {}): Promise<Msg> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) => c[method](m, meta, options, (err, res) => (err ? reject(err) : resolve(res!))));
}

function collect(s: grpc.ClientReadableStream<Msg>): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const got: Msg[] = [];
    s.on("data", (m: Msg) => got.push(m));
    s.on("error", reject);
    s.on("end", () => resolve(got));
  });
}

function chat(c: OrdersClient, n: number): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const s = c.Chat();
    const got: Msg[] = [];
    s.on("error", reject);
    s.on("data", (m: Msg) => {
      got.push(m);
      if (got.length < n) s.write({ seq: got.length });
      else s.end();
    });
    s.on("end", () => resolve(got));
    s.write({ seq: 0 });
  });
}

describe("gRPC request faults (protocol: grpc)", () => {
  let rig: ProxyRig;
  let server: grpc.Server;
  let Orders: Ctor;
  let dir = "";
  /** calls the server handled, by method */
  const handled: string[] = [];
  const clients: OrdersClient[] = [];

  function client(): OrdersClient {
    const c = new Orders(`127.0.0.1:${rig.port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    clients.push(c);
    return c;
  }

  async function withRules(rules: unknown[], fn: () => Promise<void>): Promise<void> {
    await rig.apply(undefined, { spec: { requests: rules } });
    try {
      await fn();
    } finally {
      await rig.clear();
    }
  }

  const connectionsTotal = async (): Promise<number> => (await rig.ctl.proxies()).find((p) => p.name === "rpc")!.stats.connectionsTotal;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "netimpair-grpcf-"));
    await writeFile(join(dir, "shop.proto"), PROTO);
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, "shop.proto"), { defaults: true })) as unknown as {
      shop: { Orders: Ctor & { service: grpc.ServiceDefinition } };
    };
    Orders = pkg.shop.Orders;
    server = new grpc.Server();
    server.addService(pkg.shop.Orders.service, {
      Place: (c: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        handled.push("Place");
        cb(null, { seq: c.request.seq, text: `placed ${c.request.seq}` });
      },
      Get: (c: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        handled.push("Get");
        cb(null, { seq: c.request.seq, text: `got ${c.request.seq}` });
      },
      Watch: (c: grpc.ServerWritableStream<Msg, Msg>) => {
        handled.push("Watch");
        for (let i = 0; i < 50; i++) c.write({ seq: i, text: "w" });
        c.end();
      },
      Chat: (c: grpc.ServerDuplexStream<Msg, Msg>) => {
        handled.push("Chat");
        c.on("data", (m: Msg) => c.write({ seq: m.seq, text: "pong" }));
        c.on("end", () => c.end());
        c.on("error", () => {});
      },
    });
    const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    rig = await startProxyRig("rpc", `127.0.0.1:${port}`, "grpc");
  });

  after(async () => {
    for (const c of clients) c.close();
    if (rig) await rig.close();
    server?.forceShutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("fail: a trailers-only status (name or number) with its message; the server never sees the call", async (t) => {
    const c = client();
    await call(c, "Get", { seq: 0 });
    await withRules(
      [
        { match: { method: "/shop.Orders/Place*" }, fail: { status: "UNAVAILABLE", message: "connection to shard lost" } },
        { match: { method: "/shop.Orders/Get", metadata: { "x-tenant": "acme*" } }, fail: { status: 8 } },
      ],
      async () => {
        const before = handled.length;
        const f = await failureOf(call(c, "Place", { seq: 1 }), 5000, "failed Place");
        const e = f.error as grpc.ServiceError;
        measured(t, `grpc-js: ${describeError(e)}`);
        assert.equal(e.code, grpc.status.UNAVAILABLE);
        assert.equal(e.details, "connection to shard lost");
        const g = await failureOf(call(c, "Get", { seq: 2 }, { "x-tenant": "acme-eu" }), 5000, "failed Get");
        assert.equal((g.error as grpc.ServiceError).code, grpc.status.RESOURCE_EXHAUSTED);
        assert.equal((g.error as grpc.ServiceError).details, "Resource exhausted");
        assert.equal(handled.length, before, "no failed call reached the server");
        assert.equal((await call(c, "Get", { seq: 3 }, { "x-tenant": "other" })).text, "got 3");
      },
    );
  });

  test("fail over a slow up link: the status comes after the call's trip up, as a failing server's would; a clear lets a waiting one go", async () => {
    const c = client();
    await call(c, "Get", { seq: 0 });
    const rule = { match: { method: "/shop.Orders/Place*" }, fail: { status: "UNAVAILABLE" } };
    const before = handled.length;
    await rig.apply(undefined, { spec: { up: { delay: "400ms" }, requests: [rule] } });
    try {
      const f = await failureOf(call(c, "Place", { seq: 1 }), 10_000, "failed Place");
      assert.equal((f.error as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
      assert.ok(f.ms >= 395, `UNAVAILABLE came ${f.ms.toFixed(0)} ms after the call: its trip up is 400 ms`);
      await rig.apply(undefined, { spec: { up: { delay: "30s" }, requests: [rule] } });
      const waiting = failureOf(call(c, "Place", { seq: 2 }), 10_000, "held Place");
      await sleep(300);
      const clearedAt = performance.now();
      await rig.clear();
      const g = await waiting;
      assert.equal((g.error as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
      assert.ok(performance.now() - clearedAt < 2500, `the waiting status came ${(performance.now() - clearedAt).toFixed(0)} ms after the clear`);
      assert.equal(handled.length, before, "no failed call reached the server");
      assert.equal((await call(c, "Get", { seq: 3 })).text, "got 3");
    } finally {
      await rig.clear();
    }
  });

  test("a channel with 30 % injected failures over 1,000 calls: every other call right, no reconnects", async (t) => {
    const c = client();
    await call(c, "Place", { seq: -1 });
    const conns = await connectionsTotal();
    await withRules([{ match: { method: "/shop.Orders/*" }, fail: { status: "UNAVAILABLE" }, probability: "30%" }], async () => {
      const before = handled.length;
      let ok = 0;
      let failed = 0;
      const ms = await elapsed(async () => {
        for (let i = 0; i < 1000; i++) {
          try {
            const r = await call(c, i % 2 ? "Place" : "Get", { seq: i });
            assert.equal(r.seq, i);
            ok++;
          } catch (err) {
            assert.equal((err as grpc.ServiceError).code, grpc.status.UNAVAILABLE, describeError(err as Error));
            failed++;
          }
        }
      });
      measured(t, `${ok} right, ${failed} injected UNAVAILABLE in ${ms.toFixed(0)} ms`);
      assert.equal(ok + failed, 1000);
      assert.ok(failed > 240 && failed < 360, `${failed} failed`);
      assert.equal(handled.length - before, ok, "the server handled exactly the calls that succeeded");
    });
    assert.equal(await connectionsTotal(), conns, "no new connection: the channel never reconnected");
  });

  test("built-in grpc-unavailable: about a tenth of calls fail UNAVAILABLE", async (t) => {
    const c = client();
    await rig.apply("grpc-unavailable");
    try {
      let failed = 0;
      for (let i = 0; i < 300; i++) {
        try {
          await call(c, "Get", { seq: i });
        } catch (err) {
          assert.equal((err as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
          failed++;
        }
      }
      measured(t, `${failed} of 300 failed UNAVAILABLE`);
      assert.ok(failed > 10 && failed < 55, `${failed} of 300`);
    } finally {
      await rig.clear();
    }
  });

  test("streaming: a failed server stream and bidi call, forwarded ones intact under a rule for other methods", async () => {
    const c = client();
    await withRules(
      [
        { match: { method: "/shop.Orders/Watch" }, fail: { status: "NOT_FOUND", message: "no such order" } },
        { match: { method: "/shop.Orders/Place" }, fail: { status: 14 } },
      ],
      async () => {
        const w = await failureOf(collect(c.Watch({ seq: 1 })), 5000, "failed stream");
        assert.equal((w.error as grpc.ServiceError).code, grpc.status.NOT_FOUND);
        const items = await chat(c, 100);
        assert.deepEqual(items.map((m) => m.seq), Array.from({ length: 100 }, (_, i) => i));
      },
    );
    await withRules([{ match: { method: "/shop.Orders/Chat" }, fail: { status: "ABORTED" } }], async () => {
      const f = await failureOf(chat(c, 5), 5000, "failed bidi");
      assert.equal((f.error as grpc.ServiceError).code, grpc.status.ABORTED);
      const items = await collect(c.Watch({ seq: 1 }));
      assert.equal(items.length, 50);
    });
  });

  test("delay per call: a deadline shorter than the delay fails DEADLINE_EXCEEDED, a longer one waits", async (t) => {
    const c = client();
    await call(c, "Get", { seq: 0 });
    await withRules([{ match: { method: "/shop.Orders/Place" }, delay: "400ms" }], async () => {
      const ms = await elapsed(() => call(c, "Place", { seq: 1 }));
      measured(t, `delayed call: ${ms.toFixed(0)} ms (delay 400 ms)`);
      assert.ok(ms >= 390, `${ms} ms`);
      const f = await failureOf(call(c, "Place", { seq: 2 }, {}, { deadline: Date.now() + 150 }), 3000, "call with a 150 ms deadline");
      measured(t, `deadline 150 ms: ${describeError(f.error)}`);
      assert.equal((f.error as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED);
      const fast = await elapsed(() => call(c, "Get", { seq: 3 }));
      assert.ok(fast < 300, `undelayed call ${fast} ms`);
    });
  });

  test("lose: the server does the call, the client's connection dies (UNAVAILABLE); the channel recovers", async (t) => {
    const c = client();
    await call(c, "Get", { seq: 0 });
    await withRules([{ match: { method: "/shop.Orders/Place" }, lose: "response", times: 1 }], async () => {
      const before = handled.length;
      const f = await failureOf(call(c, "Place", { seq: 1 }), 5000, "lost answer");
      measured(t, `grpc-js: ${describeError(f.error)}`);
      assert.equal((f.error as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
      assert.equal(handled.length, before + 1, "the server handled it");
      assert.equal((await call(c, "Place", { seq: 2 })).text, "placed 2");
    });
  });

  test("reset: a stream reset (RST_STREAM) fails that call only; a connection reset fails UNAVAILABLE", async (t) => {
    const c = client();
    await call(c, "Get", { seq: 0 });
    const conns = await connectionsTotal();
    await withRules([{ match: { method: "/shop.Orders/Place" }, reset: "stream" }], async () => {
      const before = handled.length;
      const f = await failureOf(call(c, "Place", { seq: 1 }), 5000, "reset stream");
      measured(t, `RST_STREAM: ${describeError(f.error)}`);
      assert.equal((f.error as grpc.ServiceError).code, grpc.status.INTERNAL);
      assert.equal(handled.length, before);
      assert.equal((await call(c, "Get", { seq: 2 })).text, "got 2");
    });
    assert.equal(await connectionsTotal(), conns, "a stream reset keeps the connection");
    await withRules([{ match: { method: "/shop.Orders/Place" }, reset: true, times: 1 }], async () => {
      const f = await failureOf(call(c, "Place", { seq: 3 }), 5000, "reset connection");
      measured(t, `connection reset: ${describeError(f.error)}`);
      assert.equal((f.error as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
      assert.equal((await call(c, "Place", { seq: 4 })).text, "placed 4");
    });
  });

  test("malformed HTTP/2 (garbage after the preface, truncated frames, huge lengths, oversized headers) harms no other connection", async () => {
    const c = client();
    await call(c, "Get", { seq: 0 });
    const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    const frame = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
      const h = Buffer.alloc(9);
      h.writeUIntBE(payload.length, 0, 3);
      h[3] = type;
      h[4] = flags;
      h.writeUInt32BE(stream, 5);
      return Buffer.concat([h, payload]);
    };
    const settings = frame(4, 0, 0, Buffer.alloc(0));
    const hostile = [
      Buffer.concat([PREFACE, Buffer.from("garbage ".repeat(100))]),
      Buffer.concat([PREFACE, settings, frame(1, 5, 1, Buffer.alloc(100, 0x82)).subarray(0, 40)]),
      Buffer.concat([PREFACE, settings, frame(1, 5, 1, Buffer.alloc(100, 0xff))]),
      Buffer.concat([PREFACE, settings, Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1])]),
      Buffer.concat([PREFACE, settings, ...Array.from({ length: 300 }, () => frame(9, 0, 1, Buffer.alloc(1000, 0x40)))]),
      PREFACE.subarray(0, 10),
    ];
    for (const bytes of hostile) {
      const s = net.connect(rig.port, "127.0.0.1");
      s.on("error", () => {});
      await once(s, "connect");
      s.write(bytes);
      s.resume();
      await Promise.race([once(s, "close"), new Promise((r) => setTimeout(r, 500))]);
      s.destroy();
    }
    // a real client's oversized metadata: refused for that call, the channel goes on
    const big: Record<string, string> = {};
    for (let i = 0; i < 100; i++) big[`x-h${i}`] = "v".repeat(1000);
    await call(c, "Get", { seq: 1 }, big).catch(() => undefined);
    assert.equal((await call(c, "Get", { seq: 2 })).text, "got 2");
    assert.equal((await call(client(), "Get", { seq: 3 })).text, "got 3");
  });
});
