// Request faults on an http proxy (protocol: http) with real clients: node http with a
// keep-alive Agent, fetch (undici) and raw sockets for pipelining and hostile bytes. The server
// counts what reaches it, so "the failed request never reaches the server" is checked there.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import tls from "node:tls";
import { describeError, elapsed, eventually, failureOf, measured, startProxyRig, type ProxyRig } from "./rig.js";
import { readBytes } from "../support/net.js";
import { silentUpstream } from "../support/bad-peers.js";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: Socket;
}

describe("HTTP/1.1 request faults (protocol: http)", () => {
  let rig: ProxyRig;
  let server: http.Server;
  /** requests the server handled, by path */
  const seen: string[] = [];
  let serverConnections = 0;
  const agents: http.Agent[] = [];

  function keepAlive(): http.Agent {
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(a);
    return a;
  }

  function request(agent: http.Agent | false, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: rig.port, path, method: opts.method ?? "GET", agent, headers: opts.headers ?? {} }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket: req.socket as Socket }));
      });
      req.on("error", reject);
      req.end(opts.body);
    });
  }

  async function withRules(rules: unknown[], fn: () => Promise<void>): Promise<void> {
    await rig.apply(undefined, { spec: { requests: rules } });
    try {
      await fn();
    } finally {
      await rig.clear();
    }
  }

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      let body = "";
      req.on("data", (c: Buffer) => (body += c));
      req.on("end", () => {
        if (req.url?.startsWith("/slow")) setTimeout(() => res.end("slow"), 100);
        else res.end(`${req.method} ${req.url} ${body}`);
      });
    });
    server.on("connection", () => serverConnections++);
    server.keepAliveTimeout = 30_000;
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    rig = await startProxyRig("web", `127.0.0.1:${(server.address() as AddressInfo).port}`, "http");
  });

  after(async () => {
    for (const a of agents) a.destroy();
    if (rig) await rig.close();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test("no matching rule: requests and bodies pass unchanged", async () => {
    await withRules([{ match: { path: "/never*" }, fail: { status: 500 } }, { match: { method: "DELETE" }, reset: true }], async () => {
      const a = keepAlive();
      for (let i = 0; i < 20; i++) {
        const r = await request(a, `/item/${i}`, { method: "POST", body: `body ${i}` });
        assert.equal(r.body, `POST /item/${i} body ${i}`);
      }
    });
  });

  test("fail: the given status, headers and body; the server never sees it; the keep-alive socket stays usable", async () => {
    const a = keepAlive();
    const warm = await request(a, "/warm");
    await withRules([{ match: { method: "POST", path: "/api/orders*" }, fail: { status: 503, headers: { "retry-after": "2" }, body: "overloaded" } }], async () => {
      const before = seen.length;
      const connsBefore = serverConnections;
      const r = await request(a, "/api/orders/7", { method: "POST", body: "x".repeat(5000) });
      assert.equal(r.status, 503);
      assert.equal(r.headers["retry-after"], "2");
      assert.equal(r.headers["content-length"], "10");
      assert.equal(r.body, "overloaded");
      assert.equal(seen.length, before, "the failed request did not reach the server");
      const next = await request(a, "/api/other", { method: "POST", body: "y" });
      assert.equal(next.body, "POST /api/other y");
      assert.equal(next.socket, warm.socket, "the same keep-alive socket");
      assert.equal(serverConnections, connsBefore);
    });
  });

  test("fail without a body: a default body with its content-length; HEAD gets the head only", async () => {
    await withRules([{ match: {}, fail: { status: 429 } }], async () => {
      const a = keepAlive();
      const r = await request(a, "/x");
      assert.equal(r.status, 429);
      assert.equal(r.body, "429 Too Many Requests\n");
      assert.equal(Number(r.headers["content-length"]), r.body.length);
      const h = await request(a, "/x", { method: "HEAD" });
      assert.equal(h.status, 429);
      assert.equal(h.body, "");
      const f = await fetch(`http://127.0.0.1:${rig.port}/y`);
      assert.equal(f.status, 429);
      assert.equal(await f.text(), "429 Too Many Requests\n");
    });
  });

  test("match fields: method, path glob, host, header glob each select only their requests", async () => {
    await withRules(
      [
        { match: { method: "put" }, fail: { status: 405 } },
        { match: { path: "/admin/*/keys" }, fail: { status: 403 } },
        { match: { host: "*.shard2.test" }, fail: { status: 502 } },
        { match: { header: { "x-test-user": "alice*" } }, fail: { status: 401 } },
      ],
      async () => {
        const a = keepAlive();
        assert.equal((await request(a, "/a", { method: "PUT", body: "" })).status, 405);
        assert.equal((await request(a, "/a", { method: "POST", body: "" })).status, 200);
        assert.equal((await request(a, "/admin/7/keys")).status, 403);
        assert.equal((await request(a, "/admin/7/users")).status, 200);
        assert.equal((await request(a, "/h", { headers: { host: "db.shard2.test" } })).status, 502);
        assert.equal((await request(a, "/h", { headers: { host: "db.shard1.test" } })).status, 200);
        assert.equal((await request(a, "/u", { headers: { "X-Test-User": "alice-7" } })).status, 401);
        assert.equal((await request(a, "/u", { headers: { "X-Test-User": "bob" } })).status, 200);
      },
    );
  });

  test("times, after and probability: the first two attempts fail, then requests pass; 30 % share", async () => {
    await withRules([{ match: { path: "/retry" }, fail: { status: 503 }, times: 2 }], async () => {
      const a = keepAlive();
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await request(a, "/retry")).status);
      assert.deepEqual(codes, [503, 503, 200, 200]);
    });
    await withRules([{ match: {}, fail: { status: 500 }, after: 3 }], async () => {
      const a = keepAlive();
      const codes = [];
      for (let i = 0; i < 5; i++) codes.push((await request(a, "/after")).status);
      assert.deepEqual(codes, [200, 200, 200, 500, 500]);
    });
    await withRules([{ match: {}, fail: { status: 503 }, probability: "30%" }], async () => {
      const a = keepAlive();
      let failed = 0;
      for (let i = 0; i < 300; i++) if ((await request(a, `/p/${i}`)).status === 503) failed++;
      assert.ok(failed > 45 && failed < 135, `${failed} of 300 failed`);
    });
  });

  test("delay holds the request before it goes upstream", async (t) => {
    await withRules([{ match: { path: "/held" }, delay: "300ms" }], async () => {
      const a = keepAlive();
      await request(a, "/warm");
      const ms = await elapsed(() => request(a, "/held"));
      measured(t, `delayed request: ${ms.toFixed(0)} ms (delay 300 ms)`);
      assert.ok(ms >= 290, `${ms} ms`);
      const fast = await elapsed(() => request(a, "/fast"));
      assert.ok(fast < 200, `${fast} ms`);
    });
  });

  test("lose: the server does the work, the client's connection is reset (http.Agent and fetch)", async (t) => {
    await withRules([{ match: { path: "/lost*" }, lose: "response" }], async () => {
      const before = seen.length;
      const f = await failureOf(request(keepAlive(), "/lost/1", { method: "POST", body: "pay" }), 5000, "lost answer");
      measured(t, `http.Agent: ${describeError(f.error)}`);
      assert.equal((f.error as NodeJS.ErrnoException).code, "ECONNRESET");
      assert.equal(seen.length, before + 1, "the server handled it");
      const g = await failureOf(fetch(`http://127.0.0.1:${rig.port}/lost/2`), 5000, "fetch of a lost answer");
      const cause = (g.error as Error & { cause?: NodeJS.ErrnoException }).cause;
      measured(t, `fetch: ${g.error.name}: ${g.error.message} (cause ${cause?.code ?? cause?.message})`);
      assert.equal(g.error.name, "TypeError");
      assert.equal(seen.length, before + 2);
      assert.equal((await request(keepAlive(), "/fine")).status, 200);
    });
  });

  test("reset: the connection is reset when the request arrives; nothing reaches the server", async (t) => {
    await withRules([{ match: { method: "DELETE" }, reset: true }], async () => {
      const before = seen.length;
      const f = await failureOf(request(keepAlive(), "/thing", { method: "DELETE" }), 5000, "reset request");
      measured(t, `http.Agent: ${describeError(f.error)}`);
      assert.equal((f.error as NodeJS.ErrnoException).code, "ECONNRESET");
      const g = await failureOf(fetch(`http://127.0.0.1:${rig.port}/thing`, { method: "DELETE" }), 5000, "fetch of a reset request");
      const cause = (g.error as Error & { cause?: NodeJS.ErrnoException }).cause;
      measured(t, `fetch: ${g.error.name}: ${g.error.message} (cause ${cause?.code ?? cause?.message})`);
      assert.equal(g.error.name, "TypeError");
      assert.equal(seen.length, before);
      assert.equal((await request(keepAlive(), "/next")).status, 200);
    });
  });

  test("pipelined requests on one raw socket: answers in request order, injected ones in their place", async () => {
    await withRules([{ match: { path: "/fail*" }, fail: { status: 503, body: "no" } }], async () => {
      const s = net.connect(rig.port, "127.0.0.1");
      await once(s, "connect");
      s.write(
        "GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n" +
          "GET /fail/2 HTTP/1.1\r\nHost: x\r\n\r\n" +
          "POST /p/3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
          "POST /fail/4 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody" +
          "GET /p/5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      let text = "";
      s.setEncoding("utf8").on("data", (d: string) => (text += d));
      await once(s, "end");
      const bodies = text.split(/HTTP\/1\.1 /).slice(1).map((r) => `${r.slice(0, 3)} ${r.slice(r.indexOf("\r\n\r\n") + 4)}`);
      assert.deepEqual(bodies, ["200 slow", "503 no", "200 POST /p/3 abc", "503 no", "200 GET /p/5 "]);
    });
  });

  test("Expect: 100-continue: a failed request gets 100 then its answer; a forwarded one the server's", async () => {
    await withRules([{ match: { path: "/upload/denied" }, fail: { status: 413 } }], async () => {
      const send = (path: string): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = http.request({ host: "127.0.0.1", port: rig.port, path, method: "PUT", agent: false, headers: { expect: "100-continue", "content-length": "3" } }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          });
          req.on("continue", () => req.end("abc"));
          req.on("error", reject);
        });
      assert.equal(await send("/upload/denied"), 413);
      assert.equal(await send("/upload/ok"), 200);
    });
  });

  test("an upgrade passes through untouched after the 101 (no request framing in the tunnel)", async () => {
    const echo = http.createServer();
    echo.on("upgrade", (_req, socket: Socket) => {
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
      socket.pipe(socket);
    });
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    const up = await startProxyRig("up", `127.0.0.1:${(echo.address() as AddressInfo).port}`, "http");
    try {
      // the rule spares the upgrade request; what looks like HTTP inside the tunnel is not framed
      await up.apply(undefined, { spec: { requests: [{ match: { path: "/api*" }, fail: { status: 500 } }] } });
      const s = net.connect(up.port, "127.0.0.1");
      await once(s, "connect");
      s.write("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
      const head = await readBytes(s, 71);
      assert.match(head.toString(), /^HTTP\/1\.1 101 /);
      const inside = "GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n";
      s.write(inside);
      assert.equal((await readBytes(s, inside.length)).toString(), inside, "tunnel bytes that look like HTTP are not framed");
      s.destroy();
    } finally {
      await up.close();
      echo.close();
    }
  });

  test("TLS passes through untouched: request faults off for that connection, said in conn.list", async () => {
    // a server that says nothing, so the connection stays up while conn.list is read
    const silent = await silentUpstream();
    const r = await startProxyRig("tls", `127.0.0.1:${silent.port}`, "http");
    try {
      await r.apply(undefined, { spec: { requests: [{ match: {}, fail: { status: 500 } }] } });
      const s = tls.connect({ host: "127.0.0.1", port: r.port, rejectUnauthorized: false });
      s.on("error", () => {});
      const conns = await eventually(async () => {
        const list = await r.ctl.connections("tls");
        if (!list.some((c) => typeof c.requestsOff === "string")) throw new Error(`conn.list: ${JSON.stringify(list)}`);
        return list;
      }, 5000);
      assert.match(conns[0]!.requestsOff!, /TLS/);
      s.destroy();
    } finally {
      await r.close();
      await silent.close();
    }
  });

  test("bad rules are refused, naming the field", async () => {
    const bad: [unknown, RegExp][] = [
      [[{ match: {}, fail: { status: 200 } }], /requests\[0\]\.fail\.status/],
      [[{ match: { methd: "GET" }, fail: { status: 503 } }], /requests\[0\]\.match\.methd/],
      [[{ match: {}, delay: "soon" }], /requests\[0\]\.delay/],
      [[{ match: {}, fail: { status: 503 }, delay: "1s" }], /takes one action/],
      [[{ match: {}, lose: "request" }], /requests\[0\]\.lose/],
      [[{ match: {}, fail: { status: 503, headers: { "content-length": "1" } } }], /requests\[0\]\.fail\.headers/],
      [[{ match: {}, fail: { status: 503 }, probability: "150%" }], /requests\[0\]\.probability/],
      [[{ match: {}, reset: "stream" }], /requests\[0\]\.reset: the http protocol has no streams to reset/],
      [[{ match: { method: "GET", metadata: { a: "b" } }, fail: { status: 503 } }], /requests\[0\]\.match\.metadata/],
      [{ match: {} }, /expected a list/],
    ];
    for (const [rules, re] of bad) {
      await assert.rejects(rig.apply(undefined, { spec: { requests: rules } }), (err: Error) => {
        assert.match(JSON.stringify(err) + err.message, re);
        return true;
      });
    }
  });

  test("malformed requests (garbage, oversized head, bad chunks) never harm the agent or other connections", async () => {
    await withRules([{ match: { path: "/f" }, fail: { status: 503 } }], async () => {
      const a = keepAlive();
      assert.equal((await request(a, "/before")).status, 200);
      const hostile = [
        Buffer.from("\x00\xff garbage \r\n\r\n\r\n"),
        Buffer.concat([Buffer.from("GET / HTTP/1.1\r\nX-Big: "), Buffer.alloc(200_000, 97)]),
        Buffer.from("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        Buffer.from("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        Buffer.from("GET /f HTTP/1.1\r\nHost: x\r\n"), // truncated, then closed
      ];
      for (const bytes of hostile) {
        const s = net.connect(rig.port, "127.0.0.1");
        s.on("error", () => {});
        await once(s, "connect");
        s.end(bytes);
        s.resume();
        await Promise.race([once(s, "close"), new Promise((r) => setTimeout(r, 2000))]);
        s.destroy();
      }
      // the keep-alive connection opened before is still fine, and rules still act
      assert.equal((await request(a, "/after")).status, 200);
      assert.equal((await request(a, "/f")).status, 503);
      const info = (await rig.ctl.proxies()).find((p) => p.name === "web")!;
      assert.ok(info.stats.requests && info.stats.requests.failed! >= 1, JSON.stringify(info.stats));
    });
  });

  test("built-in http-503-storm: about a fifth of requests answer 503 with retry-after", async (t) => {
    await rig.apply("http-503-storm");
    try {
      const a = keepAlive();
      let storm = 0;
      for (let i = 0; i < 300; i++) {
        const r = await request(a, `/s/${i}`);
        if (r.status === 503) {
          storm++;
          assert.equal(r.headers["retry-after"], "1");
        } else assert.equal(r.body, `GET /s/${i} `);
      }
      measured(t, `${storm} of 300 answered 503`);
      assert.ok(storm > 30 && storm < 95, `${storm} of 300`);
    } finally {
      await rig.clear();
    }
  });

  test("requests_total and request_duration_seconds on /metrics", async () => {
    await withRules([{ match: { path: "/m" }, fail: { status: 503 } }], async () => {
      const a = keepAlive();
      await request(a, "/m");
      await request(a, "/slow/m");
      const text = await (await fetch(`${rig.agent.httpUrl}/metrics`)).text();
      assert.match(text, /netimpair_requests_total\{proxy="web",protocol="http",outcome="failed"\} [1-9]/);
      assert.match(text, /netimpair_requests_total\{proxy="web",protocol="http",outcome="forwarded"\} [1-9]/);
      assert.match(text, /netimpair_request_duration_seconds_count\{proxy="web",protocol="http"\} [1-9]/);
    });
  });
});
