// WebSocket (`ws`) through the agent: an in-process echo server and a ws client.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import {
  FELT_DOWN_BPS,
  FELT_PROFILE,
  FELT_RTT_MS,
  FELT_UP_BPS,
  HALF_OPEN_NOW,
  RESET_NOW,
  assertRoundTrips,
  assertWaitsOutStalls,
  describeError,
  elapsed,
  failureOf,
  measureSliced,
  measured,
  useProxyRig,
} from "./rig.js";

/** Sends one message and resolves with the next one received. */
function echo(ws: WebSocket, data: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onClose = (): void => reject(new Error("closed before the reply"));
    ws.once("message", (m: Buffer) => {
      ws.off("close", onClose);
      resolve(m);
    });
    ws.once("close", onClose);
    ws.send(data);
  });
}

/** Resolves with how the socket closed: the close code and the error seen before it, if any. */
function closeOf(ws: WebSocket): Promise<{ code: number; error: string }> {
  return new Promise((resolve) => {
    let error = "";
    ws.on("error", (err: Error) => {
      error ||= describeError(err);
    });
    ws.once("close", (code: number) => resolve({ code, error }));
  });
}

/**
 * The ping/pong heartbeat the ws README recommends: ping every `intervalMs`; a socket that has
 * not answered the previous ping is terminated. Resolves with ms from start to the termination.
 */
function heartbeat(ws: WebSocket, intervalMs: number): { dead: Promise<number>; stop(): void } {
  const t0 = performance.now();
  let alive = true;
  ws.on("pong", () => {
    alive = true;
  });
  let timer: NodeJS.Timeout | undefined;
  const dead = new Promise<number>((resolve) => {
    timer = setInterval(() => {
      if (!alive) {
        clearInterval(timer);
        ws.terminate();
        resolve(performance.now() - t0);
        return;
      }
      alive = false;
      ws.ping();
    }, intervalMs);
  });
  return { dead, stop: () => clearInterval(timer) };
}

describe("WebSocket through the agent (ws)", () => {
  let wss: WebSocketServer;
  const sockets: WebSocket[] = [];

  async function open(): Promise<WebSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${rig.port}/echo`, { perMessageDeflate: false });
    ws.on("error", () => {});
    sockets.push(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return ws;
  }

  before(async () => {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 8 << 20 });
    wss.on("connection", (ws) => {
      ws.on("error", () => {});
      ws.on("message", (m: Buffer, isBinary: boolean) => ws.send(m, { binary: isBinary }));
    });
    await once(wss, "listening");
  });

  // registered after the before hook above: the rig starts once the server listens
  const rig = useProxyRig("ws", async () => `127.0.0.1:${(wss.address() as AddressInfo).port}`, async () => {
    for (const ws of sockets) ws.terminate();
  });

  after(async () => {
    if (wss) {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });

  test("clean: the upgrade, 1000 text messages in order and a 4 MiB binary message", async () => {
    const ws = await open();
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      ws.on("message", (m: Buffer) => {
        got.push(String(m));
        if (got.length === 1000) resolve();
      }),
    );
    const sent = Array.from({ length: 1000 }, (_, i) => `message ${i}`);
    for (const m of sent) ws.send(m);
    await all;
    assert.deepEqual(got, sent);
    ws.removeAllListeners("message");
    const big = randomBytes(4 << 20);
    assert.ok(big.equals(await echo(ws, big)));
    ws.close();
  });

  test(`profile felt: ${FELT_PROFILE} slows the upgrade and each echo by a round trip, bulk by size / bandwidth`, async (t) => {
    await rig.during(FELT_PROFILE, undefined, async () => {
      let ws: WebSocket | null = null;
      const upgrade = await elapsed(async () => {
        ws = await open();
      });
      measured(t, `upgrade: ${upgrade.toFixed(0)} ms (>= ${FELT_RTT_MS} ms)`);
      assert.ok(upgrade >= FELT_RTT_MS * 0.95, `${upgrade.toFixed(0)} ms`);
      const sock = ws as unknown as WebSocket;
      await assertRoundTrips(t, "echoes", 5, async (i) => assert.equal(String(await echo(sock, `ping ${i}`)), `ping ${i}`));
      const body = randomBytes(60_000);
      const bulk = await elapsed(async () => assert.ok(body.equals(await echo(sock, body))));
      const floor = (body.length * 8 * 1000) / FELT_UP_BPS + (body.length * 8 * 1000) / FELT_DOWN_BPS;
      measured(t, `60 kB message echoed: ${bulk.toFixed(0)} ms (size / up + size / down = ${floor.toFixed(0)} ms)`);
      assert.ok(bulk >= floor * 0.9, `${bulk.toFixed(0)} ms`);
      assert.ok(bulk < floor * 4 + 2000, `${bulk.toFixed(0)} ms`);
      sock.close();
    });
  });

  test("reset: the socket closes with 1006 (ws emits no error event); a new socket works after clear", async (t) => {
    const ws = await open();
    const closed = closeOf(ws);
    const t0 = performance.now();
    await rig.apply("clean", RESET_NOW);
    const c = await closed;
    measured(t, `closed ${(performance.now() - t0).toFixed(0)} ms after the reset: code ${c.code}, error ${c.error || "(none)"}`);
    assert.equal(c.code, 1006);
    const next = await failureOf(open(), 5000, "upgrade while reset applies");
    measured(t, `a new socket while applied: ${describeError(next.error)}`);
    await rig.clear();
    const again = await open();
    assert.equal(String(await echo(again, "back")), "back");
    again.close();
  });

  test("half-open: a 500 ms ping/pong heartbeat notices the dead connection", async (t) => {
    const ws = await open();
    const closed = closeOf(ws);
    await rig.apply("clean", HALF_OPEN_NOW);
    const hb = heartbeat(ws, 500);
    try {
      const ms = await hb.dead;
      measured(t, `heartbeat 500 ms: terminated ${ms.toFixed(0)} ms after the fault`);
      assert.ok(ms >= 900 && ms < 3000, `${ms} ms`);
      assert.equal((await closed).code, 1006);
    } finally {
      hb.stop();
      await rig.clear();
    }
  });

  test("stall: echoes wait out stalls and come back intact", async (t) => {
    const ws = await open();
    await assertWaitsOutStalls(rig, t, "echoes", async (i) => {
      assert.equal(String(await echo(ws, `frame ${i}`)), `frame ${i}`);
    });
    ws.close();
  });

  test("slicing: 7-byte pieces both ways (upgrade and frame headers split) deliver intact messages", async (t) => {
    await measureSliced(rig, t, "upgrade + 5 echoes", async () => {
      const ws = await open();
      for (const size of [1, 125, 126, 300]) {
        const m = randomBytes(size); // 125/126: the 7-bit and 16-bit length forms
        assert.ok(m.equals(await echo(ws, m)));
      }
      assert.equal(String(await echo(ws, "é€😀")), "é€😀");
      ws.close();
    });
  });
});
