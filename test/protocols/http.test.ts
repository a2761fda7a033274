// HTTP/1.1 keep-alive (node http client with a keep-alive Agent) through the agent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  FELT_PROFILE,
  HALF_OPEN_NOW,
  RESET_NOW,
  assertDownFloor,
  assertRoundTrips,
  assertUpFloor,
  assertWaitsOutStalls,
  describeError,
  failureOf,
  measureSliced,
  measured,
  sleep,
  useProxyRig,
} from "./rig.js";

interface Reply {
  status: number;
  body: Buffer;
  socket: Socket;
}

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
/** Deterministic body of GET /bytes/N. */
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31) % 256));

describe("HTTP/1.1 keep-alive through the agent (node http)", () => {
  let server: http.Server;
  let serverConnections = 0;
  const agents: http.Agent[] = [];

  function keepAlive(): http.Agent {
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(a);
    return a;
  }

  function request(agent: http.Agent, path: string, opts: { method?: string; body?: Buffer; timeout?: number } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port: rig.port, path, method: opts.method ?? "GET", agent, ...(opts.timeout ? { timeout: opts.timeout } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), socket: req.socket as Socket }));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`request timeout after ${opts.timeout} ms`)));
      req.on("error", reject);
      req.end(opts.body);
    });
  }

  before(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/echo") {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => res.end(Buffer.concat(chunks)));
      } else if (url.pathname.startsWith("/bytes/")) {
        res.end(bytes(Number(url.pathname.slice(7))));
      } else if (url.pathname === "/chunked") {
        // a chunked response written in many small pieces
        let i = 0;
        const next = (): void => {
          if (i === 50) return void res.end();
          res.write(`chunk ${i++};`);
          setImmediate(next);
        };
        next();
      } else if (url.pathname === "/slow") {
        setTimeout(() => res.end("slow"), 1500);
      } else {
        res.end(url.pathname);
      }
    });
    server.on("connection", () => serverConnections++);
    server.keepAliveTimeout = 30_000;
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  });

  // registered after the before hook above: the rig starts once the server listens
  const rig = useProxyRig("http", async () => `127.0.0.1:${(server.address() as AddressInfo).port}`, async () => {
    for (const a of agents) a.destroy();
  });

  after(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test("clean: 100 requests reuse one keep-alive connection; 4 MiB up and down intact; chunked responses", async () => {
    const a = keepAlive();
    const before = serverConnections;
    for (let i = 0; i < 100; i++) {
      const r = await request(a, `/item/${i}`);
      assert.equal(String(r.body), `/item/${i}`);
    }
    assert.equal(serverConnections - before, 1, "one upstream connection for 100 keep-alive requests");
    const up = randomBytes(4 << 20);
    assert.equal(sha((await request(a, "/echo", { method: "POST", body: up })).body), sha(up));
    assert.equal(sha((await request(a, `/bytes/${4 << 20}`)).body), sha(bytes(4 << 20)));
    const chunked = await request(a, "/chunked");
    assert.equal(String(chunked.body), Array.from({ length: 50 }, (_, i) => `chunk ${i};`).join(""));
  });

  test(`profile felt: ${FELT_PROFILE} makes each request a round trip and bodies take size / bandwidth`, async (t) => {
    const a = keepAlive();
    await request(a, "/warm");
    await rig.during(FELT_PROFILE, undefined, async () => {
      await assertRoundTrips(t, "requests on a warm connection", 5, (i) => request(a, `/r/${i}`));
      const body = randomBytes(60_000);
      await assertUpFloor(t, "60 kB POST (echoed)", body.length, async () => {
        await request(a, "/echo", { method: "POST", body });
      });
      let got: Buffer = Buffer.alloc(0);
      await assertDownFloor(t, "60 kB GET", 60_000, async () => {
        got = (await request(a, "/bytes/60000")).body;
      });
      assert.ok(bytes(60_000).equals(got));
    });
  });

  test("reset: an in-flight request fails with ECONNRESET; the keep-alive agent dials anew after clear", async (t) => {
    const a = keepAlive();
    await request(a, "/warm");
    const inFlight = request(a, "/slow");
    await sleep(200);
    await rig.apply("clean", RESET_NOW);
    const f = await failureOf(inFlight, 5000, "in-flight request during reset");
    measured(t, `in-flight request failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
    assert.match(describeError(f.error), /ECONNRESET|socket hang up/);
    const next = await failureOf(request(a, "/next"), 5000, "request while reset applies");
    measured(t, `a request while applied: ${describeError(next.error)}`);
    await rig.clear();
    assert.equal(String((await request(a, "/after")).body), "/after");
  });

  test("half-open: the request timeout notices on a reused keep-alive connection", async (t) => {
    const a = keepAlive();
    const warm = await request(a, "/warm");
    await rig.during("clean", HALF_OPEN_NOW, async () => {
      const f = await failureOf(request(a, "/lost", { timeout: 1000 }), 5000, "request with timeout 1 s");
      measured(t, `timeout 1 s on the reused socket: failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      assert.match(f.error.message, /timeout/);
      assert.ok(f.ms >= 900 && f.ms < 3000, `${f.ms} ms`);
      assert.ok(warm.socket.destroyed, "the timed-out socket is discarded");
    });
    assert.equal(String((await request(a, "/after", { timeout: 2000 })).body), "/after");
  });

  test("stall: requests wait out stalls and answer correctly", async (t) => {
    const a = keepAlive();
    await request(a, "/warm");
    await assertWaitsOutStalls(rig, t, "requests", async (i) => {
      assert.equal(String((await request(a, `/s/${i}`)).body), `/s/${i}`);
    });
  });

  test("slicing: 7-byte pieces both ways (headers and chunk sizes split) deliver correct responses", async (t) => {
    await measureSliced(rig, t, "chunked GET + 1.5 kB POST", async () => {
      const a = keepAlive();
      const chunked = await request(a, "/chunked");
      assert.equal(String(chunked.body), Array.from({ length: 50 }, (_, i) => `chunk ${i};`).join(""));
      const up = randomBytes(1500);
      assert.ok(up.equals((await request(a, "/echo", { method: "POST", body: up })).body));
    });
  });
});
