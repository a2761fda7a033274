// Redis (client `ioredis`) through the agent: commands, pipelines, pub/sub against the server on 6379.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import { REDIS } from "../support/services.js";
import {
  FELT_PROFILE,
  FELT_RTT_MS,
  HALF_OPEN_HOLD_MS,
  HALF_OPEN_NOW,
  RESET_NOW,
  assertDownFloor,
  assertRoundTrips,
  assertUpFloor,
  assertWaitsOutStalls,
  describeError,
  elapsed,
  failureOf,
  measureSliced,
  measured,
  sleep,
  useProxyRig,
} from "./rig.js";

const prefix = `netimpair:${process.pid}:${randomBytes(3).toString("hex")}:`;

describe("Redis through the agent (ioredis)", () => {
  const clients: Redis[] = [];
  const clientErrors: Error[] = [];

  function client(opts: RedisOptions = {}): Redis {
    const c = new Redis({ host: "127.0.0.1", port: rig.port, retryStrategy: () => 100, ...opts });
    c.on("error", (err: Error) => clientErrors.push(err));
    clients.push(c);
    return c;
  }

  const rig = useProxyRig("redis", REDIS, async () => {
    const admin = new Redis({ host: REDIS.host, port: REDIS.port });
    admin.on("error", () => {});
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    admin.disconnect();
    for (const c of clients) c.disconnect();
  });

  test("clean: commands, a 1000-command pipeline, a 1 MB value and pub/sub come through intact", async () => {
    const c = client();
    await c.set(`${prefix}a`, "1");
    assert.equal(await c.get(`${prefix}a`), "1");
    const pipe = c.pipeline();
    for (let i = 0; i < 1000; i++) pipe.rpush(`${prefix}list`, `item-${i}`);
    await pipe.exec();
    const list = await c.lrange(`${prefix}list`, 0, -1);
    assert.deepEqual(list, Array.from({ length: 1000 }, (_, i) => `item-${i}`));
    const big = randomBytes(1 << 20);
    await c.set(`${prefix}big`, big);
    assert.ok(big.equals((await c.getBuffer(`${prefix}big`)) ?? Buffer.alloc(0)));

    const sub = client();
    const got = new Promise<string>((resolve) => sub.once("message", (_ch: string, msg: string) => resolve(msg)));
    await sub.subscribe(`${prefix}chan`);
    assert.equal(await c.publish(`${prefix}chan`, "hello through the agent"), 1);
    assert.equal(await got, "hello through the agent");
    await sub.unsubscribe();
  });

  test(`profile felt: ${FELT_PROFILE} makes each command a round trip and bulk data take size / bandwidth`, async (t) => {
    const c = client();
    await c.ping();
    await rig.during(FELT_PROFILE, undefined, async () => {
      await assertRoundTrips(t, "commands", 5, () => c.incr(`${prefix}counter`));
      // a pipeline is one round trip, not n
      const pipeMs = await elapsed(async () => {
        const p = c.pipeline();
        for (let i = 0; i < 50; i++) p.incr(`${prefix}counter`);
        await p.exec();
      });
      measured(t, `50-command pipeline: ${pipeMs.toFixed(0)} ms`);
      assert.ok(pipeMs >= FELT_RTT_MS * 0.95 && pipeMs < 5 * FELT_RTT_MS, `pipeline took ${pipeMs.toFixed(0)} ms`);

      const body = randomBytes(60_000);
      await assertUpFloor(t, "60 kB SET", body.length, () => c.set(`${prefix}bulk`, body));
      let back: Buffer | null = null;
      await assertDownFloor(t, "60 kB GET", body.length, async () => {
        back = await c.getBuffer(`${prefix}bulk`);
      });
      assert.ok(body.equals(back ?? Buffer.alloc(0)));
    });
  });

  test("reset: a blocked command fails once its retries are used up; the client reconnects after clear", async (t) => {
    const c = client({ maxRetriesPerRequest: 1 });
    await c.ping();
    const errorsBefore = clientErrors.length;
    const running = c.blpop(`${prefix}never`, 3);
    running.catch(() => undefined); // the reset acts inside the apply: it may fail before failureOf looks
    await sleep(200);
    await rig.apply("clean", RESET_NOW);
    try {
      const f = await failureOf(running, 5000, "BLPOP during reset");
      measured(t, `blocked BLPOP failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      const seen = clientErrors.slice(errorsBefore).map(describeError);
      measured(t, `'error' events meanwhile: ${[...new Set(seen)].join(" | ")}`);
      assert.ok(seen.some((m) => /ECONNRESET/.test(m)), `errors seen: ${seen.join(", ")}`);
    } finally {
      await rig.clear(); // a failure here must not leave the next tests under the reset
    }
    const ms = await elapsed(async () => assert.equal(await c.ping(), "PONG"));
    measured(t, `PING after clear (reconnect included): ${ms.toFixed(0)} ms`);
  });

  test("half-open: commandTimeout notices; without it the command is resent after each hold and completes only once cleared", async (t) => {
    const guarded = client({ commandTimeout: 1000 });
    const bare = client();
    await guarded.ping();
    await bare.ping();
    await rig.apply("clean", HALF_OPEN_NOW);
    let bareDone = -1;
    const t0 = performance.now();
    const bareCmd = bare.incr(`${prefix}bare`).then((v) => {
      bareDone = performance.now() - t0;
      return v;
    });
    try {
      const f = await failureOf(guarded.ping(), 5000, "PING with commandTimeout");
      measured(t, `commandTimeout 1 s: failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
      assert.match(f.error.message, /timed out/i);
      assert.ok(f.ms >= 900 && f.ms < 3000, `${f.ms} ms`);
      await sleep(HALF_OPEN_HOLD_MS + 1000 - (performance.now() - t0));
      assert.equal(bareDone, -1, "the bare command cannot complete while every connection is half-open");
    } finally {
      await rig.clear();
    }
    assert.equal(await bareCmd, 1);
    measured(
      t,
      `no commandTimeout: still pending after the ${HALF_OPEN_HOLD_MS} ms hold (reset, reconnect into a new half-open connection, resent); ` +
        `completed ${bareDone.toFixed(0)} ms after the fault began, when that connection's hold ended after the clear`,
    );
    assert.equal(await guarded.ping(), "PONG");
  });

  test("stall: commands wait out stalls and return correct values", async (t) => {
    const c = client();
    await c.ping();
    await assertWaitsOutStalls(rig, t, "commands", async (i) => {
      assert.equal(await c.echo(`value-${i}`), `value-${i}`);
    });
  });

  test("slicing: 7-byte pieces both ways deliver correct replies (RESP split mid-length)", async (t) => {
    await measureSliced(rig, t, "connect + 100-element list + 3 kB blob", async () => {
      const c = client();
      const values = Array.from({ length: 100 }, (_, i) => `v${i}-${"é".repeat(i % 7)}`);
      await c.rpush(`${prefix}sliced`, ...values);
      assert.deepEqual(await c.lrange(`${prefix}sliced`, 0, -1), values);
      const blob = randomBytes(3000);
      await c.set(`${prefix}blob`, blob);
      assert.ok(blob.equals((await c.getBuffer(`${prefix}blob`)) ?? Buffer.alloc(0)));
    });
  });
});
