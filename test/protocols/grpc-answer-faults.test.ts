// Faults in the answer on a grpc proxy with @grpc/grpc-js: a server stream cut after N messages,
// messages the client cannot decode, a slowed answer, and a rate limit with a retry pushback.
// The server counts every call it handles: truncate, malform and throttle reach it every time.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { describeError, failureOf, measured, startProxyRig, type ProxyRig } from "./rig.js";

const PROTO = `
syntax = "proto3";
package feed;
message Item { int32 seq = 1; string text = 2; }
service Feed {
  rpc Get (Item) returns (Item);
  rpc Watch (Item) returns (stream Item);
  rpc Upload (stream Item) returns (Item);
  rpc Chat (stream Item) returns (stream Item);
}
`;

interface Item {
  seq: number;
  text: string;
}
type Cb = (err: grpc.ServiceError | null, res?: Item) => void;
interface FeedClient extends grpc.Client {
  Get(m: Partial<Item>, md: grpc.Metadata, o: grpc.CallOptions, cb: Cb): grpc.ClientUnaryCall;
  Watch(m: Partial<Item>): grpc.ClientReadableStream<Item>;
  Upload(cb: Cb): grpc.ClientWritableStream<Partial<Item>>;
  Chat(): grpc.ClientDuplexStream<Partial<Item>, Item>;
}
type Ctor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => FeedClient;

function get(c: FeedClient, seq: number, md: Record<string, string> = {}): Promise<Item> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) => c.Get({ seq }, meta, {}, (err, res) => (err ? reject(err) : resolve(res!))));
}

/** A server stream's messages and how it ended. */
function watch(c: FeedClient, n: number): Promise<{ items: Item[]; error: grpc.ServiceError | null }> {
  return new Promise((resolve) => {
    const items: Item[] = [];
    const s = c.Watch({ seq: n });
    s.on("data", (m: Item) => items.push(m));
    s.on("error", (error: grpc.ServiceError) => resolve({ items, error }));
    s.on("end", () => resolve({ items, error: null }));
  });
}

function upload(c: FeedClient, n: number): Promise<Item> {
  return new Promise((resolve, reject) => {
    const s = c.Upload((err, res) => (err ? reject(err) : resolve(res!)));
    for (let i = 0; i < n; i++) s.write({ seq: i, text: "up" });
    s.end();
  });
}

function chat(c: FeedClient, n: number): Promise<Item[]> {
  return new Promise((resolve, reject) => {
    const s = c.Chat();
    const got: Item[] = [];
    s.on("error", reject);
    s.on("data", (m: Item) => {
      got.push(m);
      if (got.length < n) s.write({ seq: got.length });
      else s.end();
    });
    s.on("end", () => resolve(got));
    s.write({ seq: 0 });
  });
}

describe("gRPC faults in the answer (protocol: grpc)", () => {
  let rig: ProxyRig;
  let server: grpc.Server;
  let Feed: Ctor;
  let dir = "";
  const handled: string[] = [];
  const clients: FeedClient[] = [];

  function client(options: grpc.ChannelOptions = {}): FeedClient {
    const c = new Feed(`127.0.0.1:${rig.port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, ...options });
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

  async function outcome(name: "truncated" | "malformed" | "throttled" | "limited"): Promise<number> {
    return (await rig.ctl.proxies()).find((p) => p.name === "rpc")!.stats.requests[name];
  }

  const count = (m: string): number => handled.filter((h) => h === m).length;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "netimpair-grpca-"));
    await writeFile(join(dir, "feed.proto"), PROTO);
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, "feed.proto"), { defaults: true })) as unknown as {
      feed: { Feed: Ctor & { service: grpc.ServiceDefinition } };
    };
    Feed = pkg.feed.Feed;
    server = new grpc.Server();
    server.addService(pkg.feed.Feed.service, {
      Get: (c: grpc.ServerUnaryCall<Item, Item>, cb: grpc.sendUnaryData<Item>) => {
        handled.push("Get");
        cb(null, { seq: c.request.seq, text: `item ${c.request.seq}` });
      },
      Watch: (c: grpc.ServerWritableStream<Item, Item>) => {
        handled.push("Watch");
        const n = c.request.seq || 20;
        const text = "w".repeat(c.request.seq > 100 ? 2000 : 10);
        for (let i = 0; i < n; i++) c.write({ seq: i, text });
        c.end();
      },
      Upload: (c: grpc.ServerReadableStream<Item, Item>, cb: grpc.sendUnaryData<Item>) => {
        handled.push("Upload");
        let n = 0;
        c.on("data", () => n++);
        c.on("end", () => cb(null, { seq: n, text: "uploaded" }));
      },
      Chat: (c: grpc.ServerDuplexStream<Item, Item>) => {
        handled.push("Chat");
        c.on("data", (m: Item) => c.write({ seq: m.seq, text: "pong" }));
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

  test("truncate {messages: 3}: exactly 3 streamed messages then an error status; client-streaming and bidi calls beside it work", async (t) => {
    const c = client();
    await get(c, 0);
    await withRules([{ match: { method: "/feed.Feed/Watch" }, truncate: { messages: 3 } }], async () => {
      const before = count("Watch");
      const truncated = await outcome("truncated");
      const [w, up, ch] = await Promise.all([watch(c, 20), upload(c, 10), chat(c, 5)]);
      measured(t, `grpc-js: ${w.items.length} messages then ${w.error ? describeError(w.error) : "a clean end"}`);
      assert.deepEqual(
        w.items.map((m) => m.seq),
        [0, 1, 2],
      );
      assert.ok(w.error, "the stream ends with an error status");
      assert.ok([grpc.status.INTERNAL, grpc.status.UNAVAILABLE].includes(w.error.code), describeError(w.error));
      assert.equal(up.seq, 10, "the client-streaming call is untouched");
      assert.equal(ch.length, 5, "the bidi call is untouched");
      assert.equal(count("Watch") - before, 1, "the call reached the server");
      assert.equal((await outcome("truncated")) - truncated, 1);
      // the channel stays usable
      assert.equal((await get(c, 7)).text, "item 7");
    });
  });

  test("truncate {messages: 0}: headers, then the reset", async () => {
    const c = client();
    await withRules([{ match: { method: "/feed.Feed/Watch" }, truncate: { messages: 0 } }], async () => {
      const w = await watch(c, 5);
      assert.equal(w.items.length, 0);
      assert.ok(w.error && [grpc.status.INTERNAL, grpc.status.UNAVAILABLE].includes(w.error.code));
    });
  });

  test("malform: each message replaced, the client fails to decode; the server handled the call", async (t) => {
    const c = client();
    await withRules([{ match: { method: "/feed.Feed/Get" }, malform: "\u00ff\u00ff\u00ff not protobuf" }], async () => {
      const before = count("Get");
      const f = await failureOf(get(c, 1), 5000, "malformed Get");
      const e = f.error as grpc.ServiceError;
      measured(t, `grpc-js, malformed: ${describeError(e)}`);
      assert.equal(e.code, grpc.status.INTERNAL);
      assert.equal(count("Get") - before, 1);
      assert.equal(await outcome("malformed"), 1);
    });
  });

  test("throttle: a server stream's DATA trickles, the call completes", async (t) => {
    const c = client();
    // 200 messages of about 2 kB: ~400 kB at 1.6 Mbps (200 kB/s) takes about 2 s
    await withRules([{ match: { method: "/feed.Feed/Watch" }, throttle: "1.6Mbps" }], async () => {
      const t0 = performance.now();
      const w = await watch(c, 200);
      const ms = performance.now() - t0;
      measured(t, `grpc-js, throttled: 200 messages in ${ms.toFixed(0)} ms (about 2000 expected)`);
      assert.equal(w.error, null);
      assert.equal(w.items.length, 200);
      assert.ok(ms > 1500 && ms < 5000, `${ms} ms`);
      assert.equal(await outcome("throttled"), 1);
    });
  });

  test("rateLimit per metadata: RESOURCE_EXHAUSTED with grpc-retry-pushback-ms; grpc-js retries after the pushback", async (t) => {
    await withRules([{ match: { method: "/feed.Feed/Get" }, rateLimit: { rate: "4/s", burst: 2, per: "metadata:x-tenant" } }], async () => {
      const c = client();
      const before = count("Get");
      await get(c, 1, { "x-tenant": "a" });
      await get(c, 2, { "x-tenant": "a" });
      const f = await failureOf(get(c, 3, { "x-tenant": "a" }), 5000, "over the budget");
      const e = f.error as grpc.ServiceError;
      assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED);
      const pushback = Number(e.metadata.get("grpc-retry-pushback-ms")[0]);
      measured(t, `grpc-js: ${describeError(e)}, pushback ${pushback} ms`);
      assert.ok(pushback > 0 && pushback <= 250, `pushback ${pushback}`);
      assert.equal((await get(c, 4, { "x-tenant": "b" })).text, "item 4", "another tenant has its own bucket");
      assert.equal(count("Get") - before, 3, "the limited call never reached the server");
      // a client with a retry policy on RESOURCE_EXHAUSTED waits the pushback and gets through
      const retrying = client({
        "grpc.service_config": JSON.stringify({
          methodConfig: [
            {
              name: [{ service: "feed.Feed" }],
              retryPolicy: { maxAttempts: 5, initialBackoff: "0.01s", maxBackoff: "1s", backoffMultiplier: 2, retryableStatusCodes: ["RESOURCE_EXHAUSTED"] },
            },
          ],
        }),
      });
      await get(retrying, 5, { "x-tenant": "c" });
      await get(retrying, 6, { "x-tenant": "c" });
      const t0 = performance.now();
      const r = await get(retrying, 7, { "x-tenant": "c" });
      const ms = performance.now() - t0;
      measured(t, `grpc-js with a retry policy: through after ${ms.toFixed(0)} ms`);
      assert.equal(r.text, "item 7");
      assert.ok(ms >= 150, `retried after the pushback (${ms} ms)`);
    });
  });
});
