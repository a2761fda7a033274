// Security, end to end: the token guards every route but /healthz (Toxiproxy API included) and
// never shows in logs or error messages; a world-readable token file is refused; browser
// Origins are refused; each control connection is rate limited; maxConnections per proxy and
// the control connection limit hold; TLS works with a real (openssl-made) certificate verified
// against its CA; every impairment change is logged with the peer address that asked for it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import net, { type Socket } from "node:net";
import { connect, startAgent } from "../../src/index.js";
import { runCli } from "../support/cli.js";
import { dial, echoServer } from "../support/net.js";
import { RawRpc, upgradeStatus } from "../support/rpc.js";

const TOKEN = "s3cr3t-token-0123456789abcdef";

class LogSink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString("utf8");
    cb();
  }
  lines(): Record<string, unknown>[] {
    return this.text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

function httpStatus(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { connection: "close", ...headers }, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("the token guards every route but /healthz, and never appears in a log line or an error", async () => {
  const log = new LogSink();
  const echo = await echoServer();
  const agent = await startAgent({ token: TOKEN, logLevel: "trace", logDestination: log, proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  try {
    const wrong = [undefined, "", "Bearer", `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Basic ${Buffer.from(`u:${TOKEN}`).toString("base64")}`, `Bearer  ${TOKEN.toUpperCase()}`];
    const paths = ["/metrics", "/control", "/proxies", "/proxies/pg", "/version", "/populate", "/reset", "/nope", "/healthz/../metrics"];
    const bodies: string[] = [];
    for (const path of paths)
      for (const auth of wrong) {
        const r = await httpStatus(agent.httpUrl + path, auth === undefined ? {} : { authorization: auth });
        assert.equal(r.status, 401, `${path} with ${JSON.stringify(auth)}: ${r.status}`);
        bodies.push(r.body);
      }
    for (const auth of wrong) assert.equal(await upgradeStatus(agent.url, auth === undefined ? {} : { authorization: auth }), 401);
    assert.equal((await httpStatus(agent.httpUrl + "/healthz")).status, 200, "/healthz needs no token");
    assert.equal((await httpStatus(agent.httpUrl + "/metrics", { authorization: `Bearer ${TOKEN}` })).status, 200);
    assert.equal((await httpStatus(agent.httpUrl + "/version", { authorization: `Bearer ${TOKEN}` })).status, 200, "the Toxiproxy API answers with the token");
    // a client that gets it wrong is told so, without the token in the message
    const refused = await connect(agent.url, { token: TOKEN + "x", timeoutMs: 3000 }).then(
      () => null,
      (err: Error) => err.message,
    );
    assert.ok(refused && /401|token|unauthori/i.test(refused), `a clear refusal: ${refused}`);
    const ctl = await connect(agent.url, { token: TOKEN });
    const bad = await ctl.apply("pg", "nope").then(
      () => "",
      (err: Error) => err.message,
    );
    await ctl.close();
    for (const text of [...bodies, refused ?? "", bad, log.text]) assert.ok(!text.includes(TOKEN) && !text.includes(TOKEN.slice(0, 12)), `no token in: ${text.slice(0, 300)}`);
    assert.ok(log.text.length > 0, "there were log lines to search");
  } finally {
    await agent.close();
    await echo.close();
  }
});

test("a world-readable token file is refused with a clear message naming the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netimpair-sec-"));
  try {
    const file = join(dir, "token");
    writeFileSync(file, TOKEN + "\n");
    chmodSync(file, 0o644);
    const r = await runCli(["agent", "--control", "127.0.0.1:0", "--token-file", file], { timeoutMs: 10_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /readable by everyone/);
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.match(r.stderr, /chmod 600/);
    assert.ok(!r.stderr.includes(TOKEN) && !r.stdout.includes(TOKEN), "the token is not shown");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a browser Origin is refused on the control upgrade and the HTTP API unless allowed", async () => {
  const agent = await startAgent({ allowOrigins: ["https://dash.example.com"] });
  try {
    assert.equal(await upgradeStatus(agent.url, { origin: "https://evil.example" }), 403);
    assert.equal(await upgradeStatus(agent.url, { origin: "null" }), 403);
    assert.equal((await httpStatus(agent.httpUrl + "/proxies", { origin: "https://evil.example" }, "POST")).status, 403);
    assert.equal((await httpStatus(agent.httpUrl + "/metrics", { origin: "https://evil.example" })).status, 403);
    assert.equal(await upgradeStatus(agent.url, { origin: "https://dash.example.com" }), 101);
    assert.equal(await upgradeStatus(agent.url), 101, "tools send no Origin");
  } finally {
    await agent.close();
  }
});

test("each control connection is rate limited; others are not slowed; the limit refills", async () => {
  const agent = await startAgent({ rateLimit: { perSecond: 50, burst: 100 } });
  try {
    const flood = await RawRpc.open(agent.url);
    for (let i = 0; i < 500; i++) flood.send(JSON.stringify({ jsonrpc: "2.0", id: i, method: "agent.info" }));
    const codes = new Map<string, number>();
    for (let i = 0; i < 500; i++) {
      const r = (await flood.next()) as { result?: unknown; error?: { code: number } };
      const k = r.error ? String(r.error.code) : "ok";
      codes.set(k, (codes.get(k) ?? 0) + 1);
    }
    assert.ok((codes.get("-32029") ?? 0) >= 300, `most of a 500-frame burst is refused: ${JSON.stringify([...codes])}`);
    assert.ok((codes.get("ok") ?? 0) >= 100, `the burst allowance is served: ${JSON.stringify([...codes])}`);
    const other = await RawRpc.open(agent.url);
    assert.ok(await other.ok("agent.info"), "another connection is not limited");
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(await flood.ok("agent.info"), "the bucket refills");
    await flood.close();
    await other.close();
  } finally {
    await agent.close();
  }
});

test("maxConnections per proxy and the control connection limit hold", async () => {
  const echo = await echoServer();
  const agent = await startAgent({ maxControlConnections: 3, proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address, maxConnections: 5 }] });
  const held: Socket[] = [];
  try {
    const listen = agent.agent.listProxies()[0]!.listen;
    const port = Number(listen.slice(listen.lastIndexOf(":") + 1));
    for (let i = 0; i < 5; i++) {
      const s = await dial(port);
      s.write("x");
      await once(s, "data");
      held.push(s);
    }
    const extra = net.connect({ host: "127.0.0.1", port });
    const outcome = await new Promise<string>((resolve) => {
      extra.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      extra.on("close", () => resolve("closed"));
      extra.on("data", () => resolve("data"));
      extra.on("connect", () => extra.write("y"));
    });
    assert.ok(outcome === "ECONNRESET" || outcome === "closed", `the 6th connection is refused (${outcome})`);
    held.pop()!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = await dial(port);
    again.write("z");
    assert.equal(String((await once(again, "data"))[0]), "z", "a freed slot is usable again");
    held.push(again);

    const ctls = [await RawRpc.open(agent.url), await RawRpc.open(agent.url), await RawRpc.open(agent.url)];
    assert.equal(await upgradeStatus(agent.url), 503, "the 4th control connection is refused");
    await ctls.pop()!.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await upgradeStatus(agent.url), 101, "a freed control slot is usable again");
    for (const c of ctls) await c.close();
  } finally {
    for (const s of held) s.destroy();
    await agent.close();
    await echo.close();
  }
});

test("TLS control with a real certificate: verified against its CA, plain and unverified clients refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "netimpair-tls-"));
  try {
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
    } catch (err) {
      assert.fail(`openssl is needed to make the test certificate: ${String(err)}`);
    }
    const cert = readFileSync(join(dir, "cert.pem"));
    const key = readFileSync(join(dir, "key.pem"));
    const agent = await startAgent({ tls: { cert, key }, token: TOKEN });
    t.after(() => agent.close());
    assert.match(agent.url, /^wss:\/\//);
    const ctl = await connect(agent.url, { token: TOKEN, ca: cert });
    assert.equal(typeof (await ctl.info()).id, "string", "a verified wss client works");
    await ctl.close();
    const unverified = await connect(agent.url, { token: TOKEN, timeoutMs: 3000 }).then(
      () => "connected",
      (err: Error) => err.message,
    );
    assert.notEqual(unverified, "connected", "a client that does not trust the certificate is refused");
    const plain = await connect(agent.url.replace("wss:", "ws:"), { token: TOKEN, timeoutMs: 3000 }).then(
      () => "connected",
      (err: Error) => err.message,
    );
    assert.notEqual(plain, "connected", "plain ws to the TLS port fails");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every impairment change is logged with the peer address that asked for it", async () => {
  const log = new LogSink();
  const echo = await echoServer();
  const agent = await startAgent({ logLevel: "info", logDestination: log, proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }] });
  try {
    const rpc = await RawRpc.open(agent.url);
    const local = `127.0.0.1:${(rpc.ws as unknown as { _socket: Socket })._socket.localPort}`;
    await rpc.ok("impair.apply", { proxy: "pg", profile: "3g" });
    await rpc.ok("impair.apply", { proxy: "*", profile: "clean", set: { "reset.probability": "5%" } });
    await rpc.ok("impair.clear", { proxy: "pg" });
    await rpc.ok("agent.panic");
    await rpc.close();
    const changes = log.lines().filter((l) => l.event === "impairment.change" || l.event === "panic");
    assert.ok(changes.length >= 4, `changes logged: ${JSON.stringify(changes)}`);
    for (const c of changes) assert.equal(c.who, local, `logged with the peer that asked: ${JSON.stringify(c)}`);
  } finally {
    await agent.close();
    await echo.close();
  }
});
