// TLS through the agent, passed through untouched: a node `tls` echo server with a certificate
// made by `openssl req -x509` for this run; the client verifies it against that certificate.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { once } from "node:events";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
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

const run = promisify(execFile);

/** Reads exactly `n` bytes from a TLS socket. */
function readExactly(s: tls.TLSSocket, n: number, timeoutMs = 20_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      s.off("data", onData);
      s.off("error", finish);
      s.off("close", onClose);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, got));
    };
    const onData = (c: Buffer): void => {
      chunks.push(c);
      got += c.length;
      if (got >= n) finish();
    };
    const onClose = (): void => finish(new Error(`closed after ${got}/${n} bytes`));
    const timer = setTimeout(() => finish(new Error(`timed out with ${got}/${n} bytes`)), timeoutMs);
    s.on("data", onData);
    s.once("error", finish);
    s.once("close", onClose);
  });
}

async function echo(s: tls.TLSSocket, data: Buffer): Promise<Buffer> {
  const back = readExactly(s, data.length);
  s.write(data);
  return back;
}

describe("TLS through the agent (node tls, certificate untouched)", () => {
  let server: tls.Server;
  let dir = "";
  let cert: Buffer;
  const sockets = new Set<tls.TLSSocket>();

  async function open(): Promise<tls.TLSSocket> {
    const s = tls.connect({ host: "127.0.0.1", port: rig.port, ca: cert, servername: "localhost" });
    s.on("error", () => {});
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    await once(s, "secureConnect");
    return s;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "netimpair-tls-"));
    await run("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ]);
    cert = await readFile(join(dir, "cert.pem"));
    server = tls.createServer({ cert, key: await readFile(join(dir, "key.pem")) }, (s) => {
      s.on("error", () => {});
      s.pipe(s);
    });
    server.on("tlsClientError", () => {});
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  });

  // registered after the before hook above: the rig starts once the server listens
  const rig = useProxyRig("tls", async () => `127.0.0.1:${(server.address() as AddressInfo).port}`, async () => {
    for (const s of sockets) s.destroy();
  });

  after(async () => {
    if (server) await new Promise<void>((r) => server.close(() => r()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("clean: the handshake verifies the server's own certificate and 4 MiB echo intact", async () => {
    const s = await open();
    assert.equal(s.authorized, true);
    const seen = s.getPeerX509Certificate();
    assert.ok(seen);
    assert.equal(seen.fingerprint256, new X509Certificate(cert).fingerprint256);
    const data = randomBytes(4 << 20);
    const back = await echo(s, data);
    assert.equal(createHash("sha256").update(back).digest("hex"), createHash("sha256").update(data).digest("hex"));
    s.end();
  });

  test(`profile felt: ${FELT_PROFILE} slows the handshake by a round trip, each echo by one, bulk by size / bandwidth`, async (t) => {
    await rig.during(FELT_PROFILE, undefined, async () => {
      let s: tls.TLSSocket | null = null;
      const hs = await elapsed(async () => {
        s = await open();
      });
      measured(t, `TLS handshake (${(s as tls.TLSSocket | null)?.getProtocol()}): ${hs.toFixed(0)} ms (>= 1 x ${FELT_RTT_MS} ms)`);
      assert.ok(hs >= FELT_RTT_MS * 0.95, `handshake ${hs.toFixed(0)} ms`);
      const sock = s as unknown as tls.TLSSocket;
      await assertRoundTrips(t, "echoes", 5, async (i) => assert.equal(String(await echo(sock, Buffer.from(`ping ${i}`))), `ping ${i}`));
      const body = randomBytes(60_000);
      const bulk = await elapsed(async () => assert.ok(body.equals(await echo(sock, body))));
      const floor = (body.length * 8 * 1000) / FELT_UP_BPS;
      measured(t, `60 kB echo: ${bulk.toFixed(0)} ms (size / up bandwidth = ${floor.toFixed(0)} ms; the echo pipelines the down leg)`);
      assert.ok(bulk >= floor * 0.9, `${bulk.toFixed(0)} ms`);
      assert.ok(bulk < (floor + (body.length * 8 * 1000) / FELT_DOWN_BPS) * 4 + 2000, `${bulk.toFixed(0)} ms`);
      sock.end();
    });
  });

  test("reset: the TLS socket fails with ECONNRESET; a new session works after clear", async (t) => {
    const s = await open();
    const failed = new Promise<never>((_, reject) => s.once("error", reject));
    await rig.apply("clean", RESET_NOW);
    const f = await failureOf(failed, 5000, "TLS socket during reset");
    measured(t, `socket failed after ${f.ms.toFixed(0)} ms: ${describeError(f.error)}`);
    assert.equal((f.error as NodeJS.ErrnoException).code, "ECONNRESET");
    const next = await failureOf(open(), 5000, "handshake while reset applies");
    measured(t, `a new handshake while applied: ${describeError(next.error)}`);
    await rig.clear();
    const again = await open();
    assert.equal(String(await echo(again, Buffer.from("back"))), "back");
    again.end();
  });

  test("half-open: the client's idle timeout (socket.setTimeout) notices; TLS itself has no keepalive", async (t) => {
    const s = await open();
    s.setTimeout(1000);
    const timedOut = new Promise<never>((_, reject) => s.once("timeout", () => reject(new Error("socket idle timeout"))));
    await rig.during("clean", HALF_OPEN_NOW, async () => {
      s.write("are you there?");
      const f = await failureOf(timedOut, 5000, "socket with a 1 s idle timeout");
      measured(t, `setTimeout 1 s: 'timeout' after ${f.ms.toFixed(0)} ms`);
      assert.ok(f.ms >= 900 && f.ms < 3000, `${f.ms} ms`);
      s.destroy();
    });
  });

  test("stall: echoes wait out stalls and come back intact", async (t) => {
    const s = await open();
    await assertWaitsOutStalls(rig, t, "echoes", async (i) => {
      assert.equal(String(await echo(s, Buffer.from(`record ${i}`))), `record ${i}`);
    });
    s.end();
  });

  test("slicing: 7-byte pieces both ways (records and handshake split) still verify and echo intact", async (t) => {
    await measureSliced(rig, t, "handshake + 3 kB echo", async () => {
      const s = await open();
      assert.equal(s.authorized, true);
      const data = randomBytes(3000);
      assert.ok(data.equals(await echo(s, data)));
      s.end();
    });
  });
});
