// A hostile gRPC client (issue 23, item 11): a rapid-reset burst (HEADERS then RST_STREAM, over
// and over, CVE-2023-44487) makes the agent's HTTP/2 session toward it answer GOAWAY and close.
// The connection must then end, even though the client neither reads nor closes: what it never
// read is dropped, its socket closed, and the proxy lists it no more.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { eventually, startProxyRig, type ProxyRig } from "../protocols/rig.js";

function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}

/** The preface, SETTINGS, then `n` streams each opened (HEADERS, END_STREAM) and reset (CANCEL). */
function rapidReset(n: number): Buffer {
  const path = Buffer.from("/hostile.S/Call");
  // HPACK: :method POST (static 3), :scheme http (static 6), :path and :authority literal
  const block = Buffer.concat([Buffer.from([0x83, 0x86, 0x04, path.length]), path, Buffer.from([0x01, 1, 0x61])]);
  const cancel = Buffer.alloc(4);
  cancel.writeUInt32BE(8);
  const parts = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), frame(4, 0, 0, Buffer.alloc(0))];
  for (let i = 0; i < n; i++) parts.push(frame(1, 0x5, 1 + 2 * i, block), frame(3, 0, 1 + 2 * i, cancel));
  return Buffer.concat(parts);
}

describe("a hostile gRPC client", () => {
  let server: grpc.Server;
  let rig: ProxyRig;

  before(async () => {
    server = new grpc.Server();
    const id = (b: Buffer): Buffer => b;
    const service: grpc.ServiceDefinition = {
      Call: { path: "/hostile.S/Call", requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
    };
    server.addService(service, { Call: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc(0)) });
    const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    rig = await startProxyRig("rpc", `127.0.0.1:${port}`, "grpc");
  });

  after(async () => {
    if (rig) await rig.close();
    server?.forceShutdown();
  });

  test("item 11: after a rapid-reset burst and the agent's GOAWAY, the connection ends though the client reads nothing", async () => {
    const s = net.connect(rig.port, "127.0.0.1");
    await once(s, "connect");
    s.on("error", () => undefined);
    s.pause(); // the attacker reads nothing
    s.write(rapidReset(20_000));
    await eventually(async () => assert.equal(await rig.connectionCount(), 1), 5000);
    // the agent's GOAWAY ended both sessions; a grace period for the bytes the client never reads, then the close
    await eventually(async () => assert.equal(await rig.connectionCount(), 0, "the proxy still lists the connection"), 15_000, 250);
    s.destroy();
    // the proxy still serves gRPC
    const c = new grpc.Client(`127.0.0.1:${rig.port}`, grpc.credentials.createInsecure());
    const id = (b: Buffer): Buffer => b;
    await new Promise<void>((res, rej) => c.makeUnaryRequest("/hostile.S/Call", id, id, Buffer.alloc(0), (e) => (e ? rej(e) : res())));
    c.close();
  });
});
