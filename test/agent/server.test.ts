// The agent's HTTP port: /healthz, /metrics, auth before upgrade, Origin refusal, the control
// connection limit, silent peers, extra routes, and the non-loopback guard.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import net from "node:net";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { request as httpsRequest } from "node:https";
import WebSocket from "ws";
import { TEST_CERT, TEST_KEY } from "../support/tls-fixture.js";
import { startAgent } from "../../src/index.js";
import { RawRpc, upgradeStatus } from "../support/rpc.js";
import { sleep } from "../support/net.js";

interface HttpReply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function get(url: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

const TOKEN = "s3cret-token-value";

test("with a token: /healthz is open, everything else needs the bearer token (401 before upgrade)", async () => {
  const agent = await startAgent({ token: TOKEN });
  try {
    assert.equal((await get(`${agent.httpUrl}/healthz`)).status, 200);
    const noAuth = await get(`${agent.httpUrl}/metrics`);
    assert.equal(noAuth.status, 401);
    assert.match(String(noAuth.headers["www-authenticate"]), /Bearer/);
    assert.equal((await get(`${agent.httpUrl}/metrics`, { authorization: "Bearer wrong" })).status, 401);
    assert.equal((await get(`${agent.httpUrl}/metrics`, { authorization: `Basic ${TOKEN}` })).status, 401);
    assert.equal((await get(`${agent.httpUrl}/metrics`, { authorization: `Bearer ${TOKEN}` })).status, 200);
    assert.equal((await get(`${agent.httpUrl}/nothing-here`)).status, 401, "unknown paths are not an oracle either");

    assert.equal(await upgradeStatus(agent.url), 401);
    assert.equal(await upgradeStatus(agent.url, { authorization: `Bearer ${TOKEN}x` }), 401);
    assert.equal(await upgradeStatus(agent.url, { authorization: `Bearer ${TOKEN.slice(0, -1)}` }), 401);
    const peer = await RawRpc.open(agent.url, { token: TOKEN });
    assert.ok((await peer.ok<{ id: string }>("agent.info")).id);
    await peer.close();
  } finally {
    await agent.close();
  }
});

test("without a token everything is open on loopback", async () => {
  const agent = await startAgent();
  try {
    const metrics = await get(`${agent.httpUrl}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /netimpair_control_requests_total|process_cpu/);
    assert.equal(await upgradeStatus(agent.url), 101);
    assert.equal((await get(`${agent.httpUrl}/nothing-here`)).status, 404);
    assert.equal((await get(`${agent.httpUrl}/control`)).status, 426, "a plain GET on /control says it needs an upgrade");
  } finally {
    await agent.close();
  }
});

test("a browser Origin is refused (403) unless allowed", async () => {
  const agent = await startAgent({ allowOrigins: ["https://dash.example.com"] });
  try {
    assert.equal(await upgradeStatus(agent.url, { origin: "https://evil.example.com" }), 403);
    assert.equal(await upgradeStatus(agent.url, { origin: "null" }), 403);
    assert.equal((await get(`${agent.httpUrl}/metrics`, { origin: "https://evil.example.com" })).status, 403);
    assert.equal(await upgradeStatus(agent.url, { origin: "https://dash.example.com" }), 101);
    assert.equal(await upgradeStatus(agent.url), 101);
  } finally {
    await agent.close();
  }
});

test("the control connection limit refuses the one too many (503)", async () => {
  const agent = await startAgent({ maxControlConnections: 2 });
  try {
    const a = await RawRpc.open(agent.url);
    const b = await RawRpc.open(agent.url);
    assert.equal(await upgradeStatus(agent.url), 503);
    await a.close();
    await sleep(50);
    const c = await RawRpc.open(agent.url);
    assert.ok((await c.ok<{ id: string }>("agent.info")).id);
    await b.close();
    await c.close();
  } finally {
    await agent.close();
  }
});

test("a silent control peer is terminated; a live one is kept", async () => {
  const agent = await startAgent({ pingIntervalMs: 50, silentCloseMs: 200 });
  try {
    const live = await RawRpc.open(agent.url);
    // a peer that completes the handshake, then never answers a ping (reads, but stays mute)
    const port = Number(new URL(agent.httpUrl).port);
    const silent = net.connect({ host: "127.0.0.1", port });
    silent.on("error", () => {});
    await once(silent, "connect");
    silent.write(`GET /control HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    let handshake = "";
    silent.on("data", (d: Buffer) => (handshake += d.toString("latin1")));
    const started = performance.now();
    const closedAt = await Promise.race([once(silent, "close").then(() => "closed"), sleep(3000).then(() => "still open")]);
    assert.match(handshake, /^HTTP\/1\.1 101/);
    assert.equal(closedAt, "closed");
    assert.ok(performance.now() - started >= 150, "not before it was silent for silentCloseMs");
    assert.equal(live.closeCode, null, "the live peer answered pings and stays");
    assert.ok((await live.ok<{ id: string }>("agent.info")).id);
    await live.close();
  } finally {
    await agent.close();
  }
});

test("/healthz turns 503 while shutting down", async () => {
  const agent = await startAgent();
  try {
    assert.equal((await get(`${agent.httpUrl}/healthz`)).status, 200);
    agent.beginShutdown();
    assert.equal((await get(`${agent.httpUrl}/healthz`)).status, 503);
    assert.equal(await upgradeStatus(agent.url), 503);
  } finally {
    await agent.close();
  }
});

test("extra routes mount on the same port behind the same auth", async () => {
  const agent = await startAgent({ token: TOKEN });
  try {
    agent.addRoute("/extra", (_req, res, url) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ path: url.pathname }));
    });
    agent.addRoute("/open", (_req, res) => void res.end("open"), { auth: false });
    assert.equal((await get(`${agent.httpUrl}/extra/pg`)).status, 401);
    const ok = await get(`${agent.httpUrl}/extra/pg`, { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { path: "/extra/pg" });
    assert.equal((await get(`${agent.httpUrl}/extraX`, { authorization: `Bearer ${TOKEN}` })).status, 404, "a prefix matches whole segments");
    assert.equal((await get(`${agent.httpUrl}/open`)).body, "open");
    assert.equal((await get(`${agent.httpUrl}/open`, { origin: "https://evil.example.com" })).status, 403);
  } finally {
    await agent.close();
  }
});

test("refuses a non-loopback control address without a token unless insecure", async () => {
  await assert.rejects(startAgent({ control: "0.0.0.0:0" }), /non-loopback.*token.*--insecure/s);
  const insecure = await startAgent({ control: "0.0.0.0:0", insecure: true });
  assert.match(insecure.url, /^ws:\/\/127\.0\.0\.1:\d+\/control$/);
  await insecure.close();
  const withToken = await startAgent({ control: "0.0.0.0:0", token: TOKEN });
  assert.equal(await upgradeStatus(withToken.url), 401);
  await withToken.close();
});

test("a control address in use is a clear start error", async () => {
  const first = await startAgent();
  try {
    const port = new URL(first.httpUrl).port;
    await assert.rejects(startAgent({ control: `127.0.0.1:${port}` }), (err: NodeJS.ErrnoException) => err.code === "EADDRINUSE");
  } finally {
    await first.close();
  }
});

test("a proxy whose start profile does not exist fails the start, naming it", async () => {
  await assert.rejects(startAgent({ proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: "127.0.0.1:1", profile: "6g" }] }), /proxies\[0\] \(pg\).*6g/);
});

test("with TLS the port serves HTTPS and WSS", async () => {
  const agent = await startAgent({ tls: { cert: TEST_CERT, key: TEST_KEY }, token: TOKEN });
  try {
    assert.match(agent.url, /^wss:\/\/127\.0\.0\.1:\d+\/control$/);
    assert.match(agent.httpUrl, /^https:\/\//);
    const health = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${agent.httpUrl}/healthz`, { ca: TEST_CERT, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(health, 200);
    const ws = new WebSocket(agent.url, { ca: TEST_CERT, headers: { authorization: `Bearer ${TOKEN}` } });
    ws.on("error", () => {});
    await once(ws, "open");
    const reply = once(ws, "message");
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "agent.info" }));
    const [data] = (await reply) as [Buffer];
    assert.equal((JSON.parse(String(data)) as { id: number; result: { id: string } }).id, 1);
    ws.close();
    await once(ws, "close");
    // a plain-text client gets nothing useful from a TLS port
    await assert.rejects(get(`${agent.httpUrl.replace("https", "http")}/healthz`));
  } finally {
    await agent.close();
  }
});

test("the agent's own 401, 403 (Origin, Host) and 404 answers carry the {error, status} body", async () => {
  const agent = await startAgent({ token: TOKEN });
  try {
    const cases: Array<[string, Record<string, string>, number]> = [
      [`${agent.httpUrl}/metrics`, {}, 401],
      [`${agent.httpUrl}/metrics`, { Authorization: `Bearer ${TOKEN}`, Origin: "https://evil.example.com" }, 403],
      [`${agent.httpUrl}/metrics`, { Authorization: `Bearer ${TOKEN}`, Host: "rebind.example.com" }, 403],
      [`${agent.httpUrl}/no-such-path`, { Authorization: `Bearer ${TOKEN}` }, 404],
    ];
    for (const [url, headers, status] of cases) {
      const reply = await get(url, headers);
      assert.equal(reply.status, status, `${url} ${JSON.stringify(headers)}`);
      const body = JSON.parse(reply.body) as { error: unknown; status: unknown };
      assert.equal(typeof body.error, "string");
      assert.equal(body.status, status, reply.body);
    }
  } finally {
    await agent.close();
  }
});
