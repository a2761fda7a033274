// NATS (client `nats`) through the agent against nats-server on 4222.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type ConnectionOptions, type NatsConnection, type Subscription } from "nats";
import { NATS, serviceAddress } from "../support/services.js";
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
  useProxyRig,
} from "./rig.js";

const prefix = `netimpair.${process.pid}.${randomBytes(3).toString("hex")}.`;
const text = new TextEncoder();
const untext = new TextDecoder();

/** Waits for the connection's next status event of `type`; resolves with ms waited. */
async function nextStatus(nc: NatsConnection, type: string, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  const it = nc.status()[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no "${type}" status within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    for (;;) {
      const r = await Promise.race([it.next(), timeout]);
      if (r.done) throw new Error(`status stream ended before "${type}"`);
      if (r.value.type === type) return performance.now() - t0;
    }
  } finally {
    clearTimeout(timer);
    void it.return?.();
  }
}

/** Collects `n` messages of a subscription. */
async function take(sub: Subscription, n: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  for await (const m of sub) {
    got.push(m.data);
    if (got.length === n) break;
  }
  return got;
}

describe("NATS through the agent (nats.js -> nats-server)", () => {
  const conns: NatsConnection[] = [];

  async function open(opts: ConnectionOptions = {}, direct = false): Promise<NatsConnection> {
    const nc = await connect({
      servers: direct ? serviceAddress(NATS) : `127.0.0.1:${rig.port}`,
      reconnectTimeWait: 200,
      maxReconnectAttempts: -1,
      ignoreClusterUpdates: true,
      ...opts,
    });
    conns.push(nc);
    return nc;
  }

  /** A responder on its own direct connection: replies with the request's data reversed. */
  async function responder(subject: string): Promise<void> {
    const nc = await open({}, true);
    nc.subscribe(subject, { callback: (_err, m) => m.respond(Buffer.from(m.data).reverse()) });
    await nc.flush();
  }

  const rig = useProxyRig("nats", NATS, async () => {
    await Promise.all(conns.map((nc) => nc.close().catch(() => {})));
  });

  test("clean: 1000 messages in order, request/reply, and a 512 KiB message come through intact", async () => {
    const nc = await open();
    const sub = nc.subscribe(`${prefix}clean`);
    const bodies = Array.from({ length: 1000 }, (_, i) => `event ${i}`);
    const heard = take(sub, bodies.length);
    for (const b of bodies) nc.publish(`${prefix}clean`, text.encode(b));
    assert.deepEqual((await heard).map((d) => untext.decode(d)), bodies);

    await responder(`${prefix}svc`);
    const reply = await nc.request(`${prefix}svc`, text.encode("abc"), { timeout: 2000 });
    assert.equal(untext.decode(reply.data), "cba");

    const big = randomBytes(512 * 1024);
    const bigSub = nc.subscribe(`${prefix}big`);
    const bigHeard = take(bigSub, 1);
    nc.publish(`${prefix}big`, big);
    assert.ok(big.equals(Buffer.from((await bigHeard)[0] ?? [])));
  });

  test(`profile felt: ${FELT_PROFILE} makes each flush (PING/PONG) a round trip and payloads take size / bandwidth`, async (t) => {
    const nc = await open();
    const direct = await open({}, true);
    const sub = nc.subscribe(`${prefix}felt`);
    await nc.flush();
    await rig.during(FELT_PROFILE, undefined, async () => {
      await assertRoundTrips(t, "flushes", 5, () => nc.flush());

      const body = randomBytes(60_000);
      await assertUpFloor(t, "60 kB publish + flush", body.length, async () => {
        nc.publish(`${prefix}sink`, body);
        await nc.flush();
      });

      const heard = take(sub, 1);
      await assertDownFloor(t, "60 kB delivery to a subscriber", body.length, async () => {
        direct.publish(`${prefix}felt`, body); // from outside the proxy: only the down direction
        assert.ok(body.equals(Buffer.from((await heard)[0] ?? [])));
      });
    });
  });

  test("reset: the client reports a disconnect, requests time out, and it reconnects by itself after clear", async (t) => {
    await responder(`${prefix}svc-reset`);
    const nc = await open();
    await nc.flush();
    const disconnected = nextStatus(nc, "disconnect", 5000);
    await rig.apply("clean", RESET_NOW);
    const ms = await disconnected;
    measured(t, `"disconnect" status ${ms.toFixed(0)} ms after the reset`);
    const f = await failureOf(nc.request(`${prefix}svc-reset`, text.encode("x"), { timeout: 1000 }), 5000, "request while reset applies");
    measured(t, `a request while applied: ${describeError(f.error)} after ${f.ms.toFixed(0)} ms`);
    const reconnected = nextStatus(nc, "reconnect", 10_000);
    await rig.clear();
    const back = await reconnected;
    measured(t, `"reconnect" status ${back.toFixed(0)} ms after clear (reconnectTimeWait 200 ms)`);
    const reply = await nc.request(`${prefix}svc-reset`, text.encode("ok"), { timeout: 2000 });
    assert.equal(untext.decode(reply.data), "ko");
  });

  test("half-open: a request timeout fails the request; pingInterval 1 s x maxPingOut 2 notices the stale connection", async (t) => {
    await responder(`${prefix}svc-half`);
    const nc = await open({ pingInterval: 1000, maxPingOut: 2 });
    await nc.flush();
    const stale = nextStatus(nc, "disconnect", 8000);
    await rig.during("clean", HALF_OPEN_NOW, async () => {
      const f = await failureOf(nc.request(`${prefix}svc-half`, text.encode("x"), { timeout: 1000 }), 5000, "request with timeout 1 s");
      measured(t, `request timeout 1 s: failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      assert.ok(f.ms >= 900 && f.ms < 3000, `${f.ms} ms`);
      const ms = await stale;
      measured(t, `pingInterval 1 s, maxPingOut 2: "disconnect" (stale connection) ${ms.toFixed(0)} ms after the fault`);
      assert.ok(ms >= 1500 && ms < 5000, `${ms} ms`);
    });
    const reply = await nc.request(`${prefix}svc-half`, text.encode("ok"), { timeout: 5000 });
    assert.equal(untext.decode(reply.data), "ko");
  });

  test("stall: request/reply waits out stalls and answers correctly", async (t) => {
    await responder(`${prefix}svc-stall`);
    const nc = await open();
    await nc.flush();
    await assertWaitsOutStalls(rig, t, "requests", async (i) => {
      const reply = await nc.request(`${prefix}svc-stall`, text.encode(`r${i}`), { timeout: 5000 });
      assert.equal(untext.decode(reply.data), `${i}`.split("").reverse().join("") + "r");
    });
  });

  test("slicing: 7-byte pieces both ways (protocol lines split) deliver every message intact", async (t) => {
    await responder(`${prefix}svc-sliced`);
    await measureSliced(rig, t, "connect + 30 messages + a request", async () => {
      const nc = await open();
      const sub = nc.subscribe(`${prefix}sliced`);
      const bodies = Array.from({ length: 30 }, (_, i) => `sliced ${i} ${"é".repeat(i * 3)}`);
      const heard = take(sub, bodies.length);
      for (const b of bodies) nc.publish(`${prefix}sliced`, text.encode(b));
      assert.deepEqual((await heard).map((d) => untext.decode(d)), bodies);
      const reply = await nc.request(`${prefix}svc-sliced`, text.encode("sliced"), { timeout: 10_000 });
      assert.equal(untext.decode(reply.data), "decils");
    });
  });
});
