// http and grpc proxies with TLS on both sides: clients verify the agent's certificate with its
// CA (curl --cacert, node https, grpc-js createSsl), the agent verifies a node https server and
// a grpc-js TLS server made with a CA of this test. Rules act (503, UNAVAILABLE) and the servers
// see what passed, over TLS (req.socket.encrypted, ALPN). Link and request faults together: a
// 3G link plus a rule over TLS, both felt.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createCa, issue } from "../../src/tls/certificates.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";
import { runCli } from "../support/cli.js";

const run = promisify(execFile);
const HOUR = 3600_000;
const PROTO = `
syntax = "proto3";
package shop;
message Msg { int32 seq = 1; string text = 2; }
service Orders { rpc Place (Msg) returns (Msg); }
`;
interface Msg {
  seq: number;
  text: string;
}
interface OrdersClient extends grpc.Client {
  Place(m: Partial<Msg>, cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientUnaryCall;
}
type Ctor = (new (address: string, creds: grpc.ChannelCredentials) => OrdersClient) & { service: grpc.ServiceDefinition };

const BIG = Buffer.alloc(256 * 1024, "x");

describe("http and grpc over TLS on both sides (CLI agent)", () => {
  let dir: string;
  let agent: CliAgent;
  let agentCa: string;
  let web: https.Server;
  let rpc: grpc.Server;
  let Orders: Ctor;
  const seen: { path: string; encrypted: boolean; alpn: string | false | null }[] = [];
  const placed: number[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "netimpair-tls-http-"));
    const now = Date.now();
    const ca = createCa("test web CA", new Date(now - HOUR), new Date(now + 24 * HOUR));
    const leaf = issue(ca, { names: ["localhost", "127.0.0.1"], notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) });
    await writeFile(join(dir, "server-ca.pem"), ca.cert);
    web = https.createServer({ cert: leaf.cert, key: leaf.key, ALPNProtocols: ["http/1.1"] }, (req, res) => {
      const sock = req.socket as TLSSocket;
      seen.push({ path: req.url ?? "", encrypted: sock.encrypted === true, alpn: sock.alpnProtocol });
      if (req.url === "/big") res.end(BIG);
      else res.end(`hello ${req.url}`);
    });
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    await writeFile(join(dir, "shop.proto"), PROTO);
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, "shop.proto"), { defaults: true })) as unknown as { shop: { Orders: Ctor } };
    Orders = pkg.shop.Orders;
    rpc = new grpc.Server();
    rpc.addService(Orders.service, {
      Place: (c: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        placed.push(c.request.seq);
        cb(null, { seq: c.request.seq, text: "placed" });
      },
    });
    const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(leaf.cert), private_key: Buffer.from(leaf.key) }], false);
    const rpcPort = await new Promise<number>((res, rej) => rpc.bindAsync("127.0.0.1:0", creds, (e, p) => (e ? rej(e) : res(p))));
    const webPort = (web.address() as AddressInfo).port;
    const serverCa = join(dir, "server-ca.pem");
    agent = await startCliAgent(
      [`web=127.0.0.1:0,127.0.0.1:${webPort},http`, `rpc=127.0.0.1:0,127.0.0.1:${rpcPort},grpc`],
      ["--proxy-tls", `web=client:auto,upstream.ca:${serverCa}`, "--proxy-tls", `rpc=client:auto,upstream.ca:${serverCa}`, "--state-dir", join(dir, "state"), "--log-level", "info"],
    );
    const out = await runCli(["ca", "--out", join(dir, "agent-ca.pem"), "--agent", agent.url]);
    assert.equal(out.code, 0, out.stderr);
    agentCa = await readFile(join(dir, "agent-ca.pem"), "utf8");
  });

  after(async () => {
    await agent?.close();
    web?.close();
    rpc?.forceShutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function get(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.get({ host: "127.0.0.1", port: agent.port("web"), path, ca: agentCa, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
    });
  }

  test("curl --cacert: a 503 rule answers in place; other paths reach the https server over TLS (ALPN http/1.1)", async () => {
    await agent.ctl.apply("web", undefined, { spec: { requests: [{ match: { path: "/api/fail*" }, fail: { status: 503 } }] } });
    try {
      const base = `https://127.0.0.1:${agent.port("web")}`;
      const failed = await run("curl", ["-sS", "--cacert", join(dir, "agent-ca.pem"), "-o", "/dev/null", "-w", "%{http_code}", `${base}/api/fail/1`]);
      assert.equal(failed.stdout, "503");
      const ok = await run("curl", ["-sS", "--cacert", join(dir, "agent-ca.pem"), `${base}/api/ok`]);
      assert.equal(ok.stdout, "hello /api/ok");
      assert.ok(!seen.some((s) => s.path.startsWith("/api/fail")), "the failed request never reached the server");
      const reached = seen.find((s) => s.path === "/api/ok");
      assert.deepEqual(reached, { path: "/api/ok", encrypted: true, alpn: "http/1.1" });
      const untrusted = await run("curl", ["-sS", `${base}/api/ok`]).then(() => "", (e: { stderr?: string }) => e.stderr ?? "");
      assert.match(untrusted, /certificate/i);
    } finally {
      await agent.ctl.clear("web");
    }
  });

  test("node https with ca: 503 from the rule; 3G and the rule together over TLS, both felt", async () => {
    const clean = Date.now();
    assert.equal((await get("/big")).body.length, BIG.length);
    const cleanMs = Date.now() - clean;
    await agent.ctl.apply("web", undefined, { spec: { rtt: "100ms", down: { bandwidth: "1Mbps" }, up: { bandwidth: "500kbps" }, requests: [{ match: { path: "/api/fail*" }, fail: { status: 503 } }] } });
    try {
      assert.equal((await get("/api/fail")).status, 503);
      const started = Date.now();
      const big = await get("/big");
      const ms = Date.now() - started;
      assert.equal(big.body.length, BIG.length);
      // 256 KiB at 1 Mbps is 2.1 s of wire time (plus TLS records); a clean fetch took cleanMs
      assert.ok(ms >= 1500, `the 3G link is felt over TLS: ${ms} ms (clean: ${cleanMs} ms)`);
    } finally {
      await agent.ctl.clear("web");
    }
  });

  test("grpc-js createSsl(agent CA): UNAVAILABLE from a rule, never reaching the server; other calls reach the TLS server", async () => {
    const client = new Orders(`127.0.0.1:${agent.port("rpc")}`, grpc.credentials.createSsl(Buffer.from(agentCa)));
    const call = (seq: number): Promise<Msg> => new Promise((res, rej) => client.Place({ seq }, (e, m) => (e ? rej(e) : res(m!))));
    try {
      assert.equal((await call(1)).text, "placed");
      await agent.ctl.apply("rpc", undefined, { spec: { requests: [{ match: { method: "/shop.Orders/Place" }, fail: { status: "UNAVAILABLE" } }] } });
      const err = await call(2).then(() => null, (e: grpc.ServiceError) => e);
      assert.equal(err?.code, grpc.status.UNAVAILABLE);
      assert.deepEqual(placed, [1]);
    } finally {
      await agent.ctl.clear("rpc");
      client.close();
    }
  });
});
