// The counters tell the truth on protocol proxies while no rule exists: requests_total
// {outcome="forwarded"} and request_duration_seconds count every request (one at a time,
// pipelined, split across writes) of redis, psql and the mysql client; bytes_total equals the
// bytes on the wire and what a tcp proxy counts for the same byte stream. An agent started by
// the CLI, real Redis, PostgreSQL, MariaDB and a node HTTP server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import pg from "pg";
import mysql from "mysql2/promise";
import { MARIADB, POSTGRES, REDIS, requireService, serviceAddress } from "../support/services.js";
import { connectToCliAgent, spawnCliAgent, type CliAgent } from "../support/cli-agent.js";
import type { ControlClient } from "../../src/control/client.js";
import { metric } from "../support/prometheus.js";

const run = promisify(execFile);
const prefix = `t_counters_${process.pid}_${randomBytes(3).toString("hex")}:`;

/** A raw client: counts what it writes and reads, answers awaited by their total length. */
class RawClient {
  sent = 0;
  received = 0;
  private readonly socket: net.Socket;
  private heard = "";
  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.received += d.length;
      this.heard += d.toString("latin1");
    });
  }
  static async open(port: number): Promise<RawClient> {
    const s = net.connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", reject);
    });
    return new RawClient(s);
  }
  write(text: string): void {
    this.sent += Buffer.byteLength(text, "latin1");
    this.socket.write(Buffer.from(text, "latin1"));
  }
  /** waits until `count` replies ending in CRLF-terminated lines `match` came (by counting matches) */
  async until(pattern: RegExp, count: number, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((this.heard.match(pattern) ?? []).length < count) {
      if (Date.now() > end) throw new Error(`heard ${(this.heard.match(pattern) ?? []).length} of ${count} ${pattern}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  async close(): Promise<void> {
    // the server may have closed first (Connection: close)
    const closed = this.socket.closed ? Promise.resolve() : new Promise((r) => this.socket.once("close", r));
    this.socket.end();
    await closed;
  }
}

describe("request and byte counters of protocol proxies (CLI agent, no rule)", () => {
  let agent: CliAgent;
  let ctl: ControlClient;
  let web: http.Server;
  const metrics = async (): Promise<string> => (await fetch(`${agent.httpUrl}/metrics`)).text();
  const forwarded = (text: string, proxy: string, protocol: string): number => metric(text, "netimpair_requests_total", `proxy="${proxy}",protocol="${protocol}",outcome="forwarded"`);
  const durations = (text: string, proxy: string, protocol: string): number => metric(text, "netimpair_request_duration_seconds_count", `proxy="${proxy}",protocol="${protocol}"`);
  const bytes = async (proxy: string): Promise<{ up: number; down: number }> => {
    const s = (await ctl.proxies()).find((p) => p.name === proxy)!.stats;
    return { up: s.bytesUp, down: s.bytesDown };
  };

  before(async () => {
    await requireService(REDIS);
    await requireService(POSTGRES);
    await requireService(MARIADB);
    web = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.setHeader("date", "Mon, 07 Dec 2026 00:00:00 GMT");
        res.end(`you asked for ${req.url}`);
      });
    });
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
    const webAddr = `127.0.0.1:${(web.address() as AddressInfo).port}`;
    const proxies = [
      `rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`,
      `rdt=127.0.0.1:0,${serviceAddress(REDIS)}`,
      `pg=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`,
      `pgt=127.0.0.1:0,${serviceAddress(POSTGRES)}`,
      `my=127.0.0.1:0,${serviceAddress(MARIADB)},mysql`,
      `myt=127.0.0.1:0,${serviceAddress(MARIADB)}`,
      `web=127.0.0.1:0,${webAddr},http`,
      `webt=127.0.0.1:0,${webAddr}`,
    ];
    agent = await spawnCliAgent({ args: proxies.flatMap((p) => ["--proxy", p]), logLevel: null, captureLogs: false });
    ctl = await connectToCliAgent(agent);
  });

  after(async () => {
    const admin = await RawClient.open(REDIS.port);
    admin.write(`*2\r\n$3\r\nDEL\r\n$${prefix.length + 3}\r\n${prefix}big\r\n`);
    await admin.until(/:\d+\r\n/, 1).catch(() => undefined);
    await admin.close();
    await ctl?.close().catch(() => undefined);
    await agent?.stop();
    await new Promise<void>((r) => web.close(() => r()));
  });

  test("redis: 15 commands one by one, 25 pipelined in one write and 1 split across writes count 41", async () => {
    const c = await RawClient.open(agent.port("rd"));
    for (let i = 1; i <= 15; i++) {
      c.write("*1\r\n$4\r\nPING\r\n");
      await c.until(/\+PONG\r\n/g, i);
    }
    c.write("*1\r\n$4\r\nPING\r\n".repeat(25));
    await c.until(/\+PONG\r\n/g, 40);
    c.write("*1\r\n$4\r\nPI");
    await new Promise((r) => setTimeout(r, 50));
    c.write("NG\r\n");
    await c.until(/\+PONG\r\n/g, 41);
    await c.close();
    const text = await metrics();
    assert.equal(forwarded(text, "rd", "redis"), 41);
    assert.equal(durations(text, "rd", "redis"), 41);
  });

  test("psql: 3 runs of two queries count 6 (the startup message is no request)", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await run("psql", ["-X", "-h", "127.0.0.1", "-p", String(agent.port("pg")), "-U", "postgres", "-d", "test", "-At", "-c", "select 99", "-c", "select 98"]);
      assert.equal(r.stdout.trim(), "99\n98");
    }
    const text = await metrics();
    assert.equal(forwarded(text, "pg", "postgres"), 6);
    assert.equal(durations(text, "pg", "postgres"), 6);
  });

  test("mysql client: 3 runs of one query count 3", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await run("mysql", ["-h", "127.0.0.1", "-P", String(agent.port("my")), "-u", "root", "-N", "-B", "test", "-e", "select 99"]);
      assert.equal(r.stdout.trim(), "99");
    }
    const text = await metrics();
    assert.equal(forwarded(text, "my", "mysql"), 3);
    assert.equal(durations(text, "my", "mysql"), 3);
  });

  /** The same redis byte stream through `proxy`: SET of 200 KB, 20 GETs of it, a split PING, SUBSCRIBE. */
  async function redisStream(proxy: string): Promise<{ up: number; down: number }> {
    const c = await RawClient.open(agent.port(proxy));
    const big = "x".repeat(200_000);
    const key = `${prefix}big`;
    c.write(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${big.length}\r\n${big}\r\n`);
    c.write(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`.repeat(20));
    await c.until(/\$200000\r\n/g, 20);
    c.write("*1\r\n$4\r\nPI");
    await new Promise((r) => setTimeout(r, 30));
    c.write("NG\r\n");
    c.write(`*2\r\n$9\r\nSUBSCRIBE\r\n$${prefix.length + 2}\r\n${prefix}ch\r\n`);
    await c.until(/subscribe/g, 1);
    await c.close();
    return { up: c.sent, down: c.received };
  }

  async function counted(proxy: string, traffic: () => Promise<{ up: number; down: number }>): Promise<{ wire: { up: number; down: number }; counted: { up: number; down: number } }> {
    const before = await bytes(proxy);
    const wire = await traffic();
    // the proxy counts a byte once delivered; the client has read every byte by now
    const after = await bytes(proxy);
    return { wire, counted: { up: after.up - before.up, down: after.down - before.down } };
  }

  test("bytes: the same redis stream counts the bytes on the wire, through tcp and through redis alike", async () => {
    const tcp = await counted("rdt", () => redisStream("rdt"));
    const rd = await counted("rd", () => redisStream("rd"));
    assert.deepEqual(tcp.counted, tcp.wire);
    assert.deepEqual(rd.counted, rd.wire);
    assert.deepEqual(rd.wire, tcp.wire);
  });

  test("bytes: pg and mysql2 sessions count the bytes their sockets moved, through tcp and the protocol proxy", async () => {
    const pgSession = (proxy: string) => async (): Promise<{ up: number; down: number }> => {
      const c = new pg.Client({ host: "127.0.0.1", port: agent.port(proxy), user: "postgres", database: "test" });
      await c.connect();
      const socket = (c as unknown as { connection: { stream: net.Socket } }).connection.stream;
      await c.query("SELECT repeat('y', 100000) AS v");
      await c.query({ text: "SELECT $1::int + 1 AS n", values: [41] });
      await c.end();
      return { up: socket.bytesWritten, down: socket.bytesRead };
    };
    const mySession = (proxy: string) => async (): Promise<{ up: number; down: number }> => {
      const c = await mysql.createConnection({ host: "127.0.0.1", port: agent.port(proxy), user: "root", database: "test" });
      const socket = (c as unknown as { connection: { stream: net.Socket } }).connection.stream;
      await c.query("SELECT repeat('y', 100000) AS v");
      await c.execute("SELECT ? + 1 AS n", [41]);
      await c.end();
      await new Promise((r) => (socket.closed ? r(null) : socket.once("close", r)));
      return { up: socket.bytesWritten, down: socket.bytesRead };
    };
    for (const [tcpName, protoName, session] of [["pgt", "pg", pgSession], ["myt", "my", mySession]] as const) {
      const tcp = await counted(tcpName, session(tcpName));
      const proto = await counted(protoName, session(protoName));
      assert.deepEqual(tcp.counted, tcp.wire, tcpName);
      assert.deepEqual(proto.counted, proto.wire, protoName);
    }
  });

  test("bytes: the same HTTP/1.1 stream counts the bytes on the wire, through tcp and through http alike", async () => {
    const httpStream = (proxy: string) => async (): Promise<{ up: number; down: number }> => {
      const c = await RawClient.open(agent.port(proxy));
      c.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
      await c.until(/you asked for/g, 2);
      c.write("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      await c.until(/you asked for/g, 3);
      await c.close();
      return { up: c.sent, down: c.received };
    };
    const tcp = await counted("webt", httpStream("webt"));
    const proto = await counted("web", httpStream("web"));
    assert.deepEqual(tcp.counted, tcp.wire);
    assert.deepEqual(proto.counted, proto.wire);
    assert.deepEqual(proto.wire, tcp.wire);
  });
});
