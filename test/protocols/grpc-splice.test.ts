// The grpc proxy splices HTTP/2 (h2-splice.ts): the client's header blocks go upstream as they
// came while the upstream's HPACK table mirrors the client's encoder. A call a rule answers (or
// holds) never reaches the upstream in order, and its block may have added entries to the
// client's table that later blocks refer to: those later calls must still reach the server with
// every header right. @grpc/grpc-js on one channel (node's encoder indexes new metadata).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import http2 from "node:http2";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { startProxyRig, type ProxyRig } from "./rig.js";

/** A small deterministic generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x80000000;
  };
}

/** Frames of random types, flags, streams and payloads (HEADERS blocks partly valid HPACK). */
function randomFrames(seed: number, n: number): Buffer {
  const r = rng(seed);
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const type = Math.floor(r() * 11);
    const len = r() < 0.1 ? Math.floor(r() * 2000) : Math.floor(r() * 40);
    const payload = Buffer.alloc(len);
    for (let k = 0; k < len; k++) payload[k] = r() < 0.5 ? 0x80 + Math.floor(r() * 62) : Math.floor(r() * 256);
    const h = Buffer.alloc(9);
    h.writeUIntBE(len, 0, 3);
    h[3] = type;
    h[4] = Math.floor(r() * 256);
    h.writeUInt32BE(r() < 0.3 ? 0 : 1 + 2 * Math.floor(r() * 8), 5);
    parts.push(h, payload);
  }
  return Buffer.concat(parts);
}

const ECHO = "/splice.S/Echo";
const UPLOAD = "/splice.S/Upload";
const id = (b: Buffer): Buffer => b;

interface Echoed {
  tenant: string;
  trace: string;
  extra: string;
  body: string;
}

describe("gRPC through the splice: HPACK kept in step around calls the agent answers or holds", () => {
  let server: grpc.Server;
  let rig: ProxyRig;
  let client: grpc.Client;
  /** metadata of every call the server handled */
  const handled: Echoed[] = [];
  /** uploads the server saw begin */
  let uploads = 0;

  before(async () => {
    server = new grpc.Server();
    const service: grpc.ServiceDefinition = {
      Echo: { path: ECHO, requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
      Upload: { path: UPLOAD, requestStream: true, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
    };
    server.addService(service, {
      Echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const get = (k: string): string => String(c.metadata.get(k)[0] ?? "");
        const e: Echoed = { tenant: get("x-tenant"), trace: get("x-trace"), extra: get("x-extra"), body: c.request.toString() };
        handled.push(e);
        // the answer's own metadata, new on each call: the response direction's table moves too
        const md = new grpc.Metadata();
        md.set("x-answer", `answer-${e.body}`);
        c.sendMetadata(md);
        cb(null, Buffer.from(JSON.stringify(e)));
      },
      Upload: (c: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        uploads++;
        let n = 0;
        c.on("data", (b: Buffer) => (n += b.length));
        c.on("end", () => cb(null, Buffer.from(String(n))));
        c.on("error", () => {});
      },
    });
    const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    rig = await startProxyRig("rpc", `127.0.0.1:${port}`, "grpc");
    client = new grpc.Client(`127.0.0.1:${rig.port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  });

  after(async () => {
    client?.close();
    if (rig) await rig.close();
    server?.forceShutdown();
  });

  function echo(md: Record<string, string>, body: string): Promise<{ echoed: Echoed; answer: string }> {
    const meta = new grpc.Metadata();
    for (const [k, v] of Object.entries(md)) meta.set(k, v);
    return new Promise((resolve, reject) => {
      let answer = "";
      const call = client.makeUnaryRequest(ECHO, id, id, Buffer.from(body), meta, { deadline: Date.now() + 10_000 }, (e, res) =>
        e ? reject(e) : resolve({ echoed: JSON.parse(res!.toString()) as Echoed, answer }),
      );
      call.on("metadata", (m: grpc.Metadata) => (answer = String(m.get("x-answer")[0] ?? "")));
    });
  }

  test("calls failed by a rule, then calls reusing their indexed metadata: every header reaches the server right", async () => {
    await rig.apply(undefined, { spec: { requests: [{ match: { metadata: { "x-fail": "yes" } }, fail: { status: "UNAVAILABLE", message: "ruled" } }] } });
    try {
      for (let round = 0; round < 6; round++) {
        const tenant = `tenant-${round}-${Math.random().toString(36).slice(2)}`;
        const trace = `trace-${round}`.repeat(1 + round);
        const before = handled.length;
        // the failed call's block adds x-tenant, x-trace and x-extra to the client's table first
        const failed = await echo({ "x-tenant": tenant, "x-trace": trace, "x-extra": `extra-${round}`, "x-fail": "yes" }, `f${round}`).then(
          () => null,
          (e: grpc.ServiceError) => e,
        );
        assert.equal(failed?.code, grpc.status.UNAVAILABLE);
        assert.equal(failed?.details, "ruled");
        assert.equal(handled.length, before, "the failed call never reached the server");
        // then calls whose blocks refer to those entries (indexed), 8 at a time, and some new ones beside
        const calls = Array.from({ length: 8 }, (_, i) =>
          echo(i % 2 === 0 ? { "x-tenant": tenant, "x-trace": trace, "x-extra": `extra-${round}` } : { "x-tenant": tenant, "x-trace": `${trace}-${i}` }, `r${round}c${i}`),
        );
        const results = await Promise.all(calls);
        results.forEach(({ echoed, answer }, i) => {
          assert.equal(echoed.tenant, tenant, `round ${round} call ${i}`);
          assert.equal(echoed.trace, i % 2 === 0 ? trace : `${trace}-${i}`);
          assert.equal(echoed.extra, i % 2 === 0 ? `extra-${round}` : "");
          assert.equal(echoed.body, `r${round}c${i}`);
          assert.equal(answer, `answer-r${round}c${i}`);
        });
      }
    } finally {
      await rig.clear();
    }
  });

  test("a held call (delay) while later calls reuse its indexed metadata: those pass first, all arrive right", async () => {
    await rig.apply(undefined, { spec: { requests: [{ match: { metadata: { "x-hold": "yes" } }, delay: "300ms" }] } });
    try {
      for (let round = 0; round < 3; round++) {
        const tenant = `held-${round}-${Math.random().toString(36).slice(2)}`;
        const order: string[] = [];
        const started = performance.now();
        const held = echo({ "x-tenant": tenant, "x-trace": "h", "x-hold": "yes" }, `held${round}`).then((r) => {
          order.push("held");
          return { ...r, ms: performance.now() - started };
        });
        // sent after the held call's block: they refer to the entries it added
        await new Promise((r) => setTimeout(r, 20));
        const others = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            echo({ "x-tenant": tenant, "x-trace": "h" }, `o${round}-${i}`).then((r) => {
              order.push("other");
              return r;
            }),
          ),
        );
        const h = await held;
        assert.deepEqual(order.slice(0, 6), Array(6).fill("other"), "the calls behind the held one were not held");
        assert.ok(h.ms >= 250, `held ${h.ms.toFixed(0)} ms`);
        assert.deepEqual([h.echoed.tenant, h.echoed.trace, h.echoed.body], [tenant, "h", `held${round}`]);
        assert.equal(h.answer, `answer-held${round}`);
        others.forEach(({ echoed, answer }, i) => {
          assert.deepEqual([echoed.tenant, echoed.trace, echoed.body], [tenant, "h", `o${round}-${i}`]);
          assert.equal(answer, `answer-o${round}-${i}`);
        });
      }
    } finally {
      await rig.clear();
    }
    // with no rule, the same channel goes on (ids mapped since the held calls went upstream later)
    const r = await echo({ "x-tenant": "after" }, "after");
    assert.equal(r.echoed.tenant, "after");
  });

  test("DATA the agent drops (held calls the client cancels) comes back to the client's window: a large upload follows on the same channel", async () => {
    await rig.apply(undefined, { spec: { requests: [{ match: { metadata: { "x-hold": "yes" } }, delay: "5s" }] } });
    const uploadsBefore = uploads;
    try {
      // 6 uploads of 60 KB each held, then cancelled: 360 KB the upstream never sees, more than any window
      for (let i = 0; i < 6; i++) {
        const meta = new grpc.Metadata();
        meta.set("x-hold", "yes");
        const done = new Promise<grpc.ServiceError | null>((res) => {
          const call = client.makeClientStreamRequest(UPLOAD, id, id, meta, { deadline: Date.now() + 10_000 }, (e) => res(e));
          for (let k = 0; k < 6; k++) call.write(Buffer.alloc(10_000, k));
          setTimeout(() => call.cancel(), 200);
        });
        assert.equal((await done)?.code, grpc.status.CANCELLED);
      }
      // then 400 KB through the same connection, not held: it completes only if the windows came back
      const meta = new grpc.Metadata();
      const started = performance.now();
      const got = await new Promise<string>((res, rej) => {
        const call = client.makeClientStreamRequest(UPLOAD, id, id, meta, { deadline: Date.now() + 5_000 }, (e, r) => (e ? rej(e) : res(r!.toString())));
        for (let k = 0; k < 40; k++) call.write(Buffer.alloc(10_000, k));
        call.end();
      });
      assert.equal(got, "400000");
      assert.ok(performance.now() - started < 4_000);
      assert.equal(uploads - uploadsBefore, 1, "the cancelled uploads never reached the server");
    } finally {
      await rig.clear();
    }
  });

  test("random frames from a client, and from a server, harm nothing else: the agent serves the next call", async () => {
    const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
    const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    const send = async (port: number, bytes: Buffer): Promise<void> => {
      const s = net.connect(port, "127.0.0.1");
      s.on("error", () => {});
      await once(s, "connect");
      s.resume();
      // in pieces of random sizes, as reads would cut them
      const r = rng(bytes.length);
      for (let i = 0; i < bytes.length; ) {
        const n = 1 + Math.floor(r() * 300);
        s.write(bytes.subarray(i, i + n));
        i += n;
      }
      await Promise.race([once(s, "close"), new Promise((res) => setTimeout(res, 150))]);
      s.destroy();
    };
    for (let seed = 1; seed <= 40; seed++) await send(rig.port, Buffer.concat([PREFACE, SETTINGS, randomFrames(seed, 60)]));
    assert.equal((await echo({ "x-tenant": "after-fuzz" }, "ok")).echoed.tenant, "after-fuzz");

    // a server that answers the client's preface with random frames
    let seed = 100;
    const hostile = net.createServer((s) => {
      s.on("error", () => {});
      s.write(Buffer.concat([SETTINGS, randomFrames(seed++, 60)]));
      s.on("data", () => {});
      setTimeout(() => s.destroy(), 150);
    });
    hostile.listen(0, "127.0.0.1");
    await once(hostile, "listening");
    const bad = await startProxyRig("rpc", `127.0.0.1:${(hostile.address() as net.AddressInfo).port}`, "grpc");
    try {
      for (let i = 0; i < 20; i++) {
        const c = new grpc.Client(`127.0.0.1:${bad.port}`, grpc.credentials.createInsecure());
        await new Promise<void>((res) => c.makeUnaryRequest(ECHO, id, id, Buffer.from("x"), { deadline: Date.now() + 500 }, () => res()));
        c.close();
      }
    } finally {
      await bad.close();
      hostile.close();
    }
    assert.equal((await echo({ "x-tenant": "after-hostile-server" }, "ok")).echoed.tenant, "after-hostile-server");
  });
});

describe("HTTP/2 beyond gRPC through the splice", () => {
  test("a server push (PUSH_PROMISE, the pushed stream) reaches the client, after a call a rule failed", async () => {
    const server = http2.createServer();
    server.on("stream", (s, h) => {
      if (h[":path"] !== "/page") return s.respond({ ":status": 404 }, { endStream: true });
      s.pushStream({ ":path": "/style.css" }, (err, push) => {
        if (err) return;
        push.respond({ ":status": 200, "x-pushed": "yes" });
        push.end("body { }");
      });
      s.respond({ ":status": 200 });
      s.end("page");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const rig = await startProxyRig("h2", `127.0.0.1:${(server.address() as net.AddressInfo).port}`, "grpc");
    const c = http2.connect(`http://127.0.0.1:${rig.port}`);
    c.on("error", () => {});
    try {
      await rig.apply(undefined, { spec: { requests: [{ match: { method: "/ruled" }, fail: { status: "UNAVAILABLE" } }] } });
      const ruled = c.request({ ":path": "/ruled", "x-new": "indexed" }, { endStream: true });
      const [head] = (await once(ruled, "response")) as [http2.IncomingHttpHeaders];
      assert.equal(head["grpc-status"], "14");
      ruled.resume();
      const pushed = new Promise<{ path: string; flag: string; body: string }>((resolve) => {
        c.once("stream", (push: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders) => {
          let body = "";
          let flag = "";
          push.on("push", (ph: http2.IncomingHttpHeaders) => (flag = String(ph["x-pushed"])));
          push.on("data", (d: Buffer) => (body += d.toString()));
          push.on("end", () => resolve({ path: String(h[":path"]), flag, body }));
        });
      });
      const page = c.request({ ":path": "/page", "x-new": "indexed" }, { endStream: true });
      let body = "";
      page.on("data", (d: Buffer) => (body += d.toString()));
      await once(page, "end");
      assert.equal(body, "page");
      assert.deepEqual(await pushed, { path: "/style.css", flag: "yes", body: "body { }" });
    } finally {
      c.destroy();
      await rig.close();
      server.close();
    }
  });
});
