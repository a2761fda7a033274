// AMQP 0-9-1 (client `amqplib`) through the agent against RabbitMQ on 5672.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from "amqplib";
import { RABBITMQ } from "../support/services.js";
import {
  FELT_PROFILE,
  HALF_OPEN_HOLD_MS,
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
  useProxyRig,
} from "./rig.js";

const prefix = `netimpair.${process.pid}.${randomBytes(3).toString("hex")}.`;

/** Resolves with the error that closed the connection (or a plain "closed"). */
function closeOf(conn: ChannelModel): Promise<Error> {
  return new Promise((resolve) => {
    let first: Error | null = null;
    conn.on("error", (err: Error) => {
      first ??= err;
    });
    conn.once("close", (err?: Error) => resolve(first ?? err ?? new Error("closed without an error")));
  });
}

/** Publishes `bodies` on a confirm channel and waits for every confirm. */
async function publishConfirmed(ch: ConfirmChannel, queue: string, bodies: Buffer[]): Promise<void> {
  for (const b of bodies) ch.sendToQueue(queue, b);
  await ch.waitForConfirms();
}

/** Consumes exactly `n` messages from `queue`, acking each. */
function consumeN(ch: Channel, queue: string, n: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    ch.consume(queue, (m) => {
      if (!m) return reject(new Error("consumer cancelled"));
      got.push(m.content);
      ch.ack(m);
      if (got.length === n) resolve(got);
    }).catch(reject);
  });
}

describe("AMQP through the agent (amqplib -> RabbitMQ)", () => {
  const conns: ChannelModel[] = [];

  async function open(heartbeat = 0): Promise<ChannelModel> {
    const c = await amqp.connect({ protocol: "amqp", hostname: "127.0.0.1", port: rig.port, username: "guest", password: "guest", heartbeat });
    c.on("error", () => {}); // each test watches what it needs; an unlistened 'error' would throw
    conns.push(c);
    return c;
  }

  const rig = useProxyRig("amqp", RABBITMQ, async () => {
    const admin = await amqp.connect({ protocol: "amqp", hostname: RABBITMQ.host, port: RABBITMQ.port, username: "guest", password: "guest" });
    admin.on("error", () => {});
    const ch = await admin.createChannel();
    for (const q of ["work", "felt", "stall", "sliced"]) await ch.deleteQueue(prefix + q);
    await admin.close();
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
  });

  test("clean: 1000 confirmed publishes consumed in order, and a topic exchange fan-out", async () => {
    const c = await open();
    const ch = await c.createConfirmChannel();
    const q = prefix + "work";
    await ch.assertQueue(q, { durable: false });
    const bodies = Array.from({ length: 1000 }, (_, i) => Buffer.from(`message ${i} ${"x".repeat(i % 50)}`));
    await publishConfirmed(ch, q, bodies);
    const got = await consumeN(ch, q, 1000);
    assert.deepEqual(got.map(String), bodies.map(String));

    const ex = prefix + "topic";
    await ch.assertExchange(ex, "topic", { autoDelete: true });
    const sub = await ch.assertQueue("", { exclusive: true });
    await ch.bindQueue(sub.queue, ex, "orders.*");
    const heard = consumeN(ch, sub.queue, 1);
    ch.publish(ex, "orders.created", Buffer.from("order 42"));
    await ch.waitForConfirms();
    assert.equal(String((await heard)[0]), "order 42");
    await ch.close();
  });

  test(`profile felt: ${FELT_PROFILE} makes each RPC a round trip and messages take size / bandwidth`, async (t) => {
    const c = await open();
    const ch = await c.createConfirmChannel();
    const q = prefix + "felt";
    await ch.assertQueue(q, { durable: false });
    await rig.during(FELT_PROFILE, undefined, async () => {
      await assertRoundTrips(t, "queue.declare(passive) RPCs", 5, () => ch.checkQueue(q));
      const body = randomBytes(60_000);
      await assertUpFloor(t, "60 kB confirmed publish", body.length, () => publishConfirmed(ch, q, [body]));
      let got: Buffer = Buffer.alloc(0);
      await assertDownFloor(t, "60 kB basic.get", body.length, async () => {
        const m = await ch.get(q, { noAck: true });
        got = m ? m.content : Buffer.alloc(0);
      });
      assert.ok(body.equals(got));
    });
  });

  test("reset: the connection closes with ECONNRESET, new connections fail while applied, and work after clear", async (t) => {
    const c = await open();
    const ch = await c.createChannel();
    const closed = closeOf(c);
    const rpc = ch.checkQueue("amq.rabbitmq.reply-to").catch((err: Error) => err);
    await rig.during("clean", RESET_NOW, async () => {
      const f = await failureOf(closed.then((e) => Promise.reject(e)), 5000, "connection during reset");
      measured(t, `connection closed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      // amqplib names the socket's end "Unexpected close" when the RST surfaces as an end of
      // stream (the kernel can report it so while the client still has unread data)
      assert.match(describeError(f.error), /ECONNRESET|closed|unexpected close/i);
      await rpc;
      const next = await failureOf(open(), 5000, "connect while reset applies");
      measured(t, `a new connection while applied: ${describeError(next.error)}`);
    });
    const again = await open();
    const ch2 = await again.createChannel();
    await ch2.checkExchange("amq.direct");
    await ch2.close();
  });

  test("half-open: a 1 s heartbeat notices the dead connection", async (t) => {
    const c = await open(1);
    const closed = closeOf(c);
    await rig.during("clean", HALF_OPEN_NOW, async () => {
      const f = await failureOf(closed.then((e) => Promise.reject(e)), HALF_OPEN_HOLD_MS + 3000, "connection with heartbeat 1 s");
      measured(t, `heartbeat 1 s: connection closed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      assert.match(f.error.message, /heartbeat/i);
      assert.ok(f.ms >= 1500 && f.ms < 4500, `${f.ms} ms`);
    });
  });

  test("stall: RPCs wait out stalls and answer correctly", async (t) => {
    const c = await open();
    const ch = await c.createConfirmChannel();
    const q = prefix + "stall";
    await ch.assertQueue(q, { durable: false });
    await assertWaitsOutStalls(rig, t, "publish+check pairs", async (i) => {
      await publishConfirmed(ch, q, [Buffer.from(`m${i}`)]);
      const ok = await ch.checkQueue(q);
      assert.equal(ok.messageCount, i + 1);
    });
  });

  test("slicing: 7-byte pieces both ways (frame headers split) deliver every message intact", async (t) => {
    await measureSliced(rig, t, "connect + 30 confirmed publishes + consume", async () => {
      const c = await open();
      const ch = await c.createConfirmChannel();
      const q = prefix + "sliced";
      await ch.assertQueue(q, { durable: false });
      const bodies = Array.from({ length: 30 }, (_, i) => Buffer.from(`sliced ${i} ${"é".repeat(i)}`));
      await publishConfirmed(ch, q, bodies);
      const got = await consumeN(ch, q, bodies.length);
      assert.deepEqual(got.map(String), bodies.map(String));
      await ch.close();
    });
  });
});
