// A client that half-closes right after its request (writes it, then FIN: `printf ... | nc -q`)
// through a protocol proxy whose rule delays that request: the request still reaches the server
// after the delay, its answer comes back, and only then does the connection end. Raw sockets
// against the real Redis and PostgreSQL; what the server holds afterwards is checked too.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import { POSTGRES, REDIS, requireService, serviceAddress } from "../support/services.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";

const tag = `t_db14hc_${process.pid}_${randomBytes(3).toString("hex")}`;
const DELAY_MS = 400;

/** What a raw client hears on a connection until the far side ends it, and when the end came. */
interface Heard {
  bytes: Buffer;
  /** ms from the request's write to the connection's end */
  endedAfter: number;
}

/** Connects, waits for `ready(bytesSoFar)` if given (a startup exchange), writes `request`, ends. */
function halfCloseExchange(port: number, request: Buffer, opts: { hello?: Buffer; ready?: (heard: Buffer) => boolean } = {}): Promise<Heard> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    let heard = Buffer.alloc(0);
    let sentAt = 0;
    let sent = false;
    const send = (): void => {
      sent = true;
      heard = Buffer.alloc(0);
      sentAt = performance.now();
      s.end(request); // the request, then FIN at once
    };
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no end within 10 s; heard ${JSON.stringify(heard.toString("latin1"))}`));
    }, 10_000);
    s.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on("connect", () => {
      if (opts.hello !== undefined) s.write(opts.hello);
      else send();
    });
    s.on("data", (d: Buffer) => {
      heard = Buffer.concat([heard, d]);
      if (!sent && opts.ready?.(heard) === true) send();
    });
    s.on("end", () => {
      clearTimeout(timer);
      const endedAfter = performance.now() - sentAt;
      s.destroy();
      resolve({ bytes: heard, endedAfter });
    });
  });
}

function respCommand(...words: string[]): Buffer {
  return Buffer.from(`*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join("")}`);
}

/** A PostgreSQL StartupMessage (protocol 3.0). */
function startupMessage(user: string, database: string): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, params]);
}

function simpleQuery(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`);
  const head = Buffer.alloc(5);
  head[0] = 0x51;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** The type bytes of the backend messages in `buf` (whole ones). */
function messageTypes(buf: Buffer): string[] {
  const types: string[] = [];
  let pos = 0;
  while (pos + 5 <= buf.length) {
    const len = buf.readInt32BE(pos + 1);
    if (pos + 1 + len > buf.length) break;
    types.push(String.fromCharCode(buf[pos]!));
    pos += 1 + len;
  }
  return types;
}

describe("a delayed request from a client that half-closes at once (CLI agent)", () => {
  let agent: CliAgent;
  let redis: Redis;
  let admin: pg.Client;

  before(async () => {
    await requireService(REDIS);
    await requireService(POSTGRES);
    agent = await startCliAgent([`rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`, `pg=127.0.0.1:0,${serviceAddress(POSTGRES)},postgres`]);
    redis = new Redis({ host: REDIS.host, port: REDIS.port });
    redis.on("error", () => {});
    admin = new pg.Client({ host: POSTGRES.host, port: POSTGRES.port, user: "postgres", database: "test" });
    await admin.connect();
    await admin.query(`CREATE TABLE ${tag} (id int)`);
  });

  after(async () => {
    await redis.del(`${tag}:k`, `${tag}:ping`).catch(() => undefined);
    redis.disconnect();
    await admin.query(`DROP TABLE IF EXISTS ${tag}`).catch(() => undefined);
    await admin.end();
    await agent?.close();
  });

  test("redis: SET then FIN, the SET delayed: the server holds the value and the client hears +OK before the end", async () => {
    await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "SET", key: `${tag}:*` }, delay: DELAY_MS }] } });
    const heard = await halfCloseExchange(agent.port("rd"), respCommand("SET", `${tag}:k`, "held"));
    assert.equal(heard.bytes.toString("latin1"), "+OK\r\n");
    assert.ok(heard.endedAfter >= DELAY_MS - 50, `the connection ended ${heard.endedAfter.toFixed(0)} ms after the request: before the delay was over`);
    assert.equal(await redis.get(`${tag}:k`), "held");
  });

  test("redis: an inline PING then FIN (printf 'PING\\r\\n' | nc -q 5), the PING delayed: +PONG before the end", async () => {
    await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "PING" }, delay: DELAY_MS }] } });
    const heard = await halfCloseExchange(agent.port("rd"), Buffer.from("PING\r\n"));
    assert.equal(heard.bytes.toString("latin1"), "+PONG\r\n");
    assert.ok(heard.endedAfter >= DELAY_MS - 50, `the connection ended ${heard.endedAfter.toFixed(0)} ms after the request: before the delay was over`);
  });

  test("redis: a pipeline then FIN, its first command delayed: every reply comes back, in order", async () => {
    await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "PING" }, delay: DELAY_MS }] } });
    const pipeline = Buffer.concat([respCommand("PING"), respCommand("SET", `${tag}:ping`, "1"), respCommand("INCR", `${tag}:ping`)]);
    const heard = await halfCloseExchange(agent.port("rd"), pipeline);
    assert.equal(heard.bytes.toString("latin1"), "+PONG\r\n+OK\r\n:2\r\n");
    assert.equal(await redis.get(`${tag}:ping`), "2");
  });

  test("postgres: INSERT then FIN, the INSERT delayed: the row is there and the client hears CommandComplete and ReadyForQuery", async () => {
    await agent.ctl.apply("pg", undefined, { spec: { requests: [{ match: { query: `^INSERT INTO ${tag}` }, delay: DELAY_MS }] } });
    const heard = await halfCloseExchange(agent.port("pg"), simpleQuery(`INSERT INTO ${tag} VALUES (7)`), {
      hello: startupMessage("postgres", "test"),
      ready: (bytes) => messageTypes(bytes).includes("Z"),
    });
    assert.deepEqual(messageTypes(heard.bytes), ["C", "Z"], `heard ${JSON.stringify(heard.bytes.toString("latin1"))}`);
    assert.match(heard.bytes.toString("latin1"), /INSERT 0 1/);
    assert.ok(heard.endedAfter >= DELAY_MS - 50, `the connection ended ${heard.endedAfter.toFixed(0)} ms after the request: before the delay was over`);
    assert.deepEqual((await admin.query(`SELECT id FROM ${tag}`)).rows, [{ id: 7 }]);
  });
});
