// MQTT 3.1.1 (client `mqtt`) through the agent against Mosquitto on 1883.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { MOSQUITTO } from "../support/services.js";
import {
  FELT_DOWN_BPS,
  FELT_PROFILE,
  FELT_RTT_MS,
  FELT_UP_BPS,
  HALF_OPEN_HOLD_MS,
  HALF_OPEN_NOW,
  RESET_NOW,
  assertWaitsOutStalls,
  describeError,
  elapsed,
  failureOf,
  measureSliced,
  measured,
  useProxyRig,
} from "./rig.js";

const prefix = `netimpair/${process.pid}/${randomBytes(3).toString("hex")}/`;

/** Resolves with the next `n` messages on topics starting with `topicPrefix`. */
function nextMessages(c: MqttClient, topicPrefix: string, n: number, timeoutMs = 20_000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    const onMessage = (topic: string, payload: Buffer): void => {
      if (!topic.startsWith(topicPrefix)) return;
      got.push(payload);
      if (got.length === n) {
        clearTimeout(timer);
        c.off("message", onMessage);
        resolve(got);
      }
    };
    const timer = setTimeout(() => {
      c.off("message", onMessage);
      reject(new Error(`got ${got.length}/${n} messages on ${topicPrefix} in ${timeoutMs} ms`));
    }, timeoutMs);
    c.on("message", onMessage);
  });
}

/** Resolves with the error (or plain close) that ended the connection. */
function closeOf(c: MqttClient): Promise<Error> {
  return new Promise((resolve) => {
    let first: Error | null = null;
    const onError = (err: Error): void => {
      first ??= err;
    };
    c.on("error", onError);
    c.once("close", () => {
      c.off("error", onError);
      resolve(first ?? new Error("closed (no error event)"));
    });
  });
}

describe("MQTT through the agent (mqtt -> Mosquitto)", () => {
  const clients: MqttClient[] = [];

  async function client(opts: IClientOptions = {}): Promise<MqttClient> {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${rig.port}`, { reconnectPeriod: 200, connectTimeout: 5000, ...opts });
    c.on("error", () => {});
    clients.push(c);
    return c;
  }

  const rig = useProxyRig("mqtt", MOSQUITTO, async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  });

  test("clean: 200 QoS 1 messages arrive in order, and a retained message reaches a late subscriber", async () => {
    const c = await client();
    await c.subscribeAsync(`${prefix}clean/#`, { qos: 1 });
    const bodies = Array.from({ length: 200 }, (_, i) => `reading ${i}`);
    const heard = nextMessages(c, `${prefix}clean/`, bodies.length);
    for (const b of bodies) await c.publishAsync(`${prefix}clean/sensor`, b, { qos: 1 });
    assert.deepEqual((await heard).map(String), bodies);

    await c.publishAsync(`${prefix}retained`, "last known value", { qos: 1, retain: true });
    const late = await client();
    const retained = nextMessages(late, `${prefix}retained`, 1);
    await late.subscribeAsync(`${prefix}retained`, { qos: 1 });
    assert.equal(String((await retained)[0]), "last known value");
    await c.publishAsync(`${prefix}retained`, "", { qos: 1, retain: true }); // clear it
  });

  test(`profile felt: ${FELT_PROFILE} makes each QoS 1 publish a round trip and payloads take size / bandwidth`, async (t) => {
    const c = await client();
    await c.subscribeAsync(`${prefix}felt/#`, { qos: 1 });
    await rig.during(FELT_PROFILE, undefined, async () => {
      const n = 5;
      const delivered = nextMessages(c, `${prefix}felt/small-`, n);
      const ms = await elapsed(async () => {
        for (let i = 0; i < n; i++) await c.publishAsync(`${prefix}felt/small-${i}`, "x", { qos: 1 });
      });
      measured(t, `${n} sequential QoS 1 publishes (PUBACK each): ${ms.toFixed(0)} ms (>= ${n} x ${FELT_RTT_MS} ms)`);
      assert.ok(ms >= n * FELT_RTT_MS * 0.95, `${n} publishes took ${ms.toFixed(0)} ms`);
      await delivered; // the link is idle again before the bulk message

      const body = randomBytes(60_000);
      const back = nextMessages(c, `${prefix}felt/bulk`, 1);
      const ms2 = await elapsed(async () => {
        await c.publishAsync(`${prefix}felt/bulk`, body, { qos: 1 });
        assert.ok(body.equals((await back)[0] ?? Buffer.alloc(0)));
      });
      const floor = (body.length * 8 * 1000) / FELT_UP_BPS + (body.length * 8 * 1000) / FELT_DOWN_BPS;
      measured(t, `60 kB publish and its delivery back: ${ms2.toFixed(0)} ms (size / up + size / down = ${floor.toFixed(0)} ms)`);
      assert.ok(ms2 >= floor * 0.9, `took ${ms2.toFixed(0)} ms`);
      assert.ok(ms2 < floor * 4 + 2000, `took ${ms2.toFixed(0)} ms`);
    });
  });

  test("reset: the client sees the connection end and reconnects by itself after clear", async (t) => {
    const c = await client();
    const closed = closeOf(c);
    await rig.apply("clean", RESET_NOW);
    const f = await failureOf(closed.then((e) => Promise.reject(e)), 5000, "connection during reset");
    measured(t, `connection ended after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
    const fresh = await failureOf(mqtt.connectAsync(`mqtt://127.0.0.1:${rig.port}`, { reconnectPeriod: 0 }), 5000, "connect while applied");
    measured(t, `a new connection while applied: ${describeError(fresh.error)}`);
    await rig.clear();
    const ms = await elapsed(
      () =>
        new Promise<void>((resolve) => {
          if (c.connected) resolve();
          else c.once("connect", () => resolve());
        }),
    );
    measured(t, `reconnected ${ms.toFixed(0)} ms after clear (reconnectPeriod 200 ms)`);
    await c.publishAsync(`${prefix}after-reset`, "ok", { qos: 1 });
  });

  test("half-open: keepalive 1 s notices the dead connection", async (t) => {
    const c = await client({ keepalive: 1, reconnectPeriod: 0 });
    const closed = closeOf(c);
    await rig.during("clean", HALF_OPEN_NOW, async () => {
      const f = await failureOf(closed.then((e) => Promise.reject(e)), HALF_OPEN_HOLD_MS + 3000, "client with keepalive 1 s");
      measured(t, `keepalive 1 s: connection ended after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      assert.match(f.error.message, /keepalive/i);
      assert.ok(f.ms >= 900 && f.ms < 4000, `${f.ms} ms`);
    });
  });

  test("stall: QoS 1 round trips wait out stalls and deliver every message", async (t) => {
    const c = await client();
    await c.subscribeAsync(`${prefix}stall/#`, { qos: 1 });
    await assertWaitsOutStalls(rig, t, "publish+deliver round trips", async (i) => {
      const got = nextMessages(c, `${prefix}stall/${i}`, 1);
      await c.publishAsync(`${prefix}stall/${i}`, `m${i}`, { qos: 1 });
      assert.equal(String((await got)[0]), `m${i}`);
    });
  });

  test("slicing: 7-byte pieces both ways (remaining-length varints split) deliver every message intact", async (t) => {
    await measureSliced(rig, t, "connect + 30 QoS 1 publishes + deliveries", async () => {
      const c = await client();
      await c.subscribeAsync(`${prefix}sliced/#`, { qos: 1 });
      const bodies = Array.from({ length: 30 }, (_, i) => `sliced ${i} ${"é".repeat(i * 3)}`); // some over 127 B: 2-byte lengths
      const heard = nextMessages(c, `${prefix}sliced/`, bodies.length);
      for (const b of bodies) await c.publishAsync(`${prefix}sliced/t`, b, { qos: 1 });
      assert.deepEqual((await heard).map(String), bodies);
    });
  });
});
