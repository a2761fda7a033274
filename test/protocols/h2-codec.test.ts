// The splice's HTTP/2 codec (h2-frames.ts, hpack.ts, hpack-huffman.ts) against node's http2
// (nghttp2) on loopback: every header block node's encoder writes, both directions, decoded to
// exactly the fields it was given (Huffman strings, indexed fields, dynamic table evictions,
// table size updates), frames cut anywhere; and what the agent encodes itself (literals without
// indexing) read by node and leaving its dynamic table empty.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import http2 from "node:http2";
import { once } from "node:events";
import { FrameReader, headerFrames, payloadOf, CONTINUATION, FLAG_END_HEADERS, GOAWAY, HEADERS, H2_PREFACE, SETTINGS, type Frame } from "../../src/protocols/http2/h2-frames.js";
import { encodeLiteral, HpackDecoder, HpackError, type HeaderField } from "../../src/protocols/http2/hpack.js";
import { decodeHuffman, encodeHuffman } from "../../src/protocols/http2/hpack-huffman.js";

function settingsFrame(pairs: [number, number][], ack = false): Buffer {
  const p = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(v, 6 * i + 2);
  });
  const h = Buffer.alloc(9);
  h.writeUIntBE(p.length, 0, 3);
  h[3] = SETTINGS;
  h[4] = ack ? 1 : 0;
  return Buffer.concat([h, p]);
}

/** Header blocks of a byte stream, decoded as they complete (HEADERS + CONTINUATION). */
class BlockReader {
  readonly reader = new FrameReader(() => 16_384);
  readonly decoder = new HpackDecoder();
  readonly blocks: { stream: number; fields: HeaderField[]; changed: boolean }[] = [];
  readonly frames: Frame[] = [];
  private parts: Buffer[] = [];
  private stream = 0;

  push(chunk: Buffer): void {
    this.reader.push(chunk, (f) => {
      this.frames.push({ ...f, buf: Buffer.from(f.buf.subarray(f.start, f.end)), start: 0, end: f.end - f.start });
      if (f.type !== HEADERS && f.type !== CONTINUATION) return;
      if (f.type === HEADERS) {
        this.parts = [Buffer.from(payloadOf(f))];
        this.stream = f.stream;
      } else this.parts.push(Buffer.from(f.buf.subarray(f.start + 9, f.end)));
      if ((f.flags & FLAG_END_HEADERS) === 0) return;
      const { fields, changed } = this.decoder.decode(Buffer.concat(this.parts));
      this.blocks.push({ stream: this.stream, fields, changed });
    });
  }
}

/** Printable text using symbols of every Huffman code length (5 to 13 bits and beyond). */
/** Listens `server` on a loopback port and connects a raw socket to it, its header blocks read by a BlockReader. */
async function rawClient(server: http2.Http2Server): Promise<{ s: net.Socket; r: BlockReader }> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  const s = net.connect(port, "127.0.0.1");
  await once(s, "connect");
  const r = new BlockReader();
  s.on("data", (b) => r.push(b));
  return { s, r };
}

function oddText(seed: number, n: number): string {
  const alphabet = "aeiou0129-./_ABCXYZ:;<=>?@[\\]^`{|}~!\"#$%&'()*+,";
  let s = "";
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += alphabet[x % alphabet.length];
  }
  return s;
}

describe("HPACK and frames (the splice's codec) against node's http2", () => {
  test("RFC 7541 C.4: requests with Huffman strings, the dynamic table growing as the RFC says", () => {
    const d = new HpackDecoder();
    const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ""), "hex");
    const a = d.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
    assert.deepEqual(a.fields, [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ]);
    assert.equal(d.tableSize, 57);
    const b = d.decode(hex("8286 84be 5886 a8eb 1064 9cbf"));
    assert.deepEqual(b.fields.slice(3), [
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ]);
    assert.equal(d.tableSize, 110);
    const c = d.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"));
    assert.deepEqual(c.fields, [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ]);
    assert.equal(d.tableSize, 164);
    assert.equal(encodeHuffman("www.example.com").toString("hex"), "f1e3c2e5f23a6ba0ab90f4ff");
    for (let seed = 1; seed < 50; seed++) {
      const s = oddText(seed, seed * 3);
      const h = encodeHuffman(s);
      assert.equal(decodeHuffman(h, 0, h.length), s);
    }
    // bad input is an error, not a crash: an index past the table, padding of zeros, a size update over the limit
    assert.throws(() => new HpackDecoder().decode(Buffer.from([0xbe])), HpackError);
    assert.throws(() => new HpackDecoder().decode(Buffer.from([0x41, 0x81, 0x00])), HpackError);
    assert.throws(() => new HpackDecoder().decode(Buffer.from([0x3f, 0xe1, 0x7f])), HpackError);
    assert.throws(() => new HpackDecoder().decode(Buffer.alloc(100, 0xff)), HpackError);
  });

  test("node's requests: every block decoded to the fields sent (Huffman, indexed, evictions, table size updates), read whole and a byte at a time", async () => {
    const captured: Buffer[] = [];
    let sock: net.Socket | null = null;
    const server = net.createServer((s) => {
      sock = s;
      // a small table first: the client's encoder must say so (a size update) and evict early
      s.write(settingsFrame([[1, 512]]));
      s.on("data", (b) => captured.push(b));
      s.on("error", () => {});
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as net.AddressInfo).port;
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on("error", () => {});
    const sent: Record<string, string>[] = [];
    const request = (i: number): void => {
      const h: Record<string, string> = {
        ":method": "POST",
        ":path": `/pkg.Svc/M${i % 4}`,
        "content-type": "application/grpc",
        te: "trailers",
        "x-tenant": `tenant-${i % 3}`, // repeated: indexed after its first time
        "x-trace": oddText(i + 7, 20 + (i % 40)), // new each time: inserted, evicting older entries
        "x-long": oddText(i, 300), // large, Huffman
      };
      sent.push(h);
      const s = client.request(h, { endStream: true });
      s.on("error", () => {});
    };
    await once(client, "connect").catch(() => undefined);
    for (let i = 0; i < 40; i++) request(i);
    await new Promise((r) => setTimeout(r, 200));
    // then a larger table: a second size update
    (sock as net.Socket | null)?.write(Buffer.concat([settingsFrame([[1, 8192]]), settingsFrame([], true)]));
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 40; i < 80; i++) request(i);
    await new Promise((r) => setTimeout(r, 300));
    client.destroy();
    server.close();
    const bytes = Buffer.concat(captured);
    assert.ok(bytes.subarray(0, H2_PREFACE.length).equals(H2_PREFACE));
    const stream = bytes.subarray(H2_PREFACE.length);
    for (const pieces of [[stream], Array.from(stream, (b) => Buffer.from([b]))]) {
      const r = new BlockReader();
      r.decoder.allow(8192);
      for (const p of pieces) r.push(p);
      assert.equal(r.blocks.length, sent.length, "a block per request");
      r.blocks.forEach((b, i) => {
        const want = sent[i]!;
        const got = Object.fromEntries(b.fields.filter(([k]) => k !== ":scheme" && k !== ":authority"));
        assert.deepEqual(got, want, `request ${i}`);
      });
      // node indexed the new fields (the blocks moved its table) and reused them
      assert.ok(r.blocks.every((b) => b.changed));
      assert.ok(r.decoder.tableSize <= 8192);
    }
    // once it took the 512-byte table, node's encoder said so: a block starts with a size update to 512 (0x3f 0xe1 0x03)
    const all = new BlockReader();
    all.push(stream);
    assert.ok(all.frames.some((f) => f.type === HEADERS && payloadOf(f).subarray(0, 3).toString("hex") === "3fe103"));
  });

  test("node's responses and trailers decoded to what the server sent", async () => {
    const server = http2.createServer();
    let n = 0;
    server.on("stream", (s) => {
      const i = n++;
      s.respond({ ":status": 200, "content-type": "application/grpc", "x-r": oddText(i, 30 + i), "x-same": "same" }, { waitForTrailers: true });
      s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": String(i % 3), "grpc-message": oddText(i + 100, 10) }));
      s.end(Buffer.from("x"));
    });
    const { s, r } = await rawClient(server);
    const out: Buffer[] = [H2_PREFACE, settingsFrame([])];
    for (let i = 0; i < 30; i++) {
      out.push(...headerFrames(1 + 2 * i, encodeLiteral([[":method", "POST"], [":scheme", "http"], [":path", "/r"], [":authority", "x"]]), true, 16_384));
    }
    s.write(Buffer.concat(out));
    const deadline = Date.now() + 5000;
    while (r.blocks.length < 60 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    s.destroy();
    server.close();
    assert.equal(r.blocks.length, 60);
    for (let i = 0; i < 30; i++) {
      const [head, trailers] = r.blocks.filter((b) => b.stream === 1 + 2 * i).map((b) => Object.fromEntries(b.fields));
      assert.equal(head?.[":status"], "200");
      assert.equal(head?.["x-same"], "same");
      // the server numbered its streams as they came: stream 1 + 2i was its i-th
      assert.equal(head?.["x-r"], oddText(i, 30 + i));
      assert.equal(trailers?.["grpc-status"], String(i % 3));
      assert.equal(trailers?.["grpc-message"], oddText(i + 100, 10));
    }
  });

  test("the agent's literal blocks: node reads them, and its dynamic table stays empty (index 62 then fails)", async () => {
    const server = http2.createServer();
    const seen: http2.IncomingHttpHeaders[] = [];
    server.on("stream", (s, h) => {
      seen.push(h);
      s.respond({ ":status": 200 });
      s.end();
    });
    server.on("sessionError", () => {});
    const { s, r } = await rawClient(server);
    s.on("error", () => {});
    const fields: HeaderField[] = [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/pkg.S/M"],
      [":authority", "a:1"],
      ["content-type", "application/grpc"],
      ["x-custom", oddText(3, 70)],
      ["grpc-timeout", "100m"],
    ];
    // a block split in small frames (HEADERS + CONTINUATIONs: nghttp2 takes at most 8 of those)
    const block = encodeLiteral(fields);
    assert.ok(block.length > 2 * 40);
    s.write(Buffer.concat([H2_PREFACE, settingsFrame([]), ...headerFrames(1, block, true, 40)]));
    const until = Date.now() + 3000;
    while (seen.length < 1 && Date.now() < until) await new Promise((res) => setTimeout(res, 10));
    assert.equal(seen.length, 1);
    for (const [k, v] of fields) assert.equal(seen[0]![k], v);
    // a field by dynamic index 62: node has no such entry, the connection fails (COMPRESSION_ERROR)
    s.write(Buffer.concat(headerFrames(3, Buffer.from([0x83, 0x86, 0x84, 0xbe]), true, 16_384)));
    const end = Date.now() + 3000;
    while (!r.frames.some((f) => f.type === GOAWAY) && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
    s.destroy();
    server.close();
    const ga = r.frames.find((f) => f.type === GOAWAY);
    assert.ok(ga, "node answered GOAWAY");
    assert.equal(ga.buf.readUInt32BE(9 + 4), 9, "COMPRESSION_ERROR");
    assert.equal(seen.length, 1);
  });

  test("frames: a length over the bound is refused before anything is buffered", () => {
    const r = new FrameReader(() => 16_384);
    assert.throws(() => r.push(Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]), () => {}), /a frame of/);
    const r2 = new FrameReader(() => 16_384);
    const seen: number[] = [];
    const big = Buffer.concat([Buffer.from([0x00, 0x40, 0x00, 0, 0, 0, 0, 0, 1]), Buffer.alloc(16_384, 7)]);
    for (let i = 0; i < big.length; i += 1000) r2.push(big.subarray(i, i + 1000), (f) => seen.push(f.length));
    assert.deepEqual(seen, [16_384]);
    assert.equal(r2.buffered, 0);
  });
});
