// HTTP/1.x framing on its own (no sockets): heads, bodies, pipelined messages split at any byte.
// The relay-level behaviour (real clients and servers) is in http-faults.test.ts.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseRequestHead, parseResponseHead, findHeadEnd, pathOf, requestHost, type RequestHead, type ResponseHead } from "../../src/protocols/http1/head.js";
import { BodyReader, requestFraming, responseFraming } from "../../src/protocols/http1/body.js";
import { MessageSplitter, type Piece } from "../../src/protocols/http1/splitter.js";
import { seededRandom } from "../support/random.js";

const requestGrammar = {
  parse: parseRequestHead,
  framing: requestFraming,
  skipLeadingEmptyLines: true,
};

function responseGrammar(methods: string[]) {
  return {
    parse: parseResponseHead,
    framing: (h: ResponseHead) => responseFraming(h, methods[0] ?? "GET"),
    skipLeadingEmptyLines: false,
  };
}

interface Split<H> {
  heads: H[];
  bodies: string[];
  ends: number;
  raw: string;
  invalid: string[];
  /** every byte of every piece, in order */
  all: Buffer;
}

function drain<H>(s: MessageSplitter<H>, into: Split<H>, onEnd?: () => void): void {
  const parts: Buffer[] = [into.all];
  for (let p: Piece<H> | null; (p = s.next()) !== null; ) {
    if (p.kind === "head") {
      into.heads.push(p.head);
      into.bodies.push("");
      parts.push(p.bytes);
    } else if (p.kind === "body") {
      into.bodies[into.bodies.length - 1] += p.bytes.toString("latin1");
      parts.push(p.bytes);
    } else if (p.kind === "end") {
      into.ends++;
      onEnd?.();
    } else if (p.kind === "raw") {
      into.raw += p.bytes.toString("latin1");
      parts.push(p.bytes);
    } else into.invalid.push(p.reason);
  }
  into.all = Buffer.concat(parts);
}

/** Feeds `stream` in pieces cut at `cuts` and collects what comes out. */
function split<H>(s: MessageSplitter<H>, stream: Buffer, cuts: number[], onEnd?: () => void): Split<H> {
  const out: Split<H> = { heads: [], bodies: [], ends: 0, raw: "", invalid: [], all: Buffer.alloc(0) };
  let at = 0;
  for (const c of [...cuts, stream.length]) {
    s.push(stream.subarray(at, c));
    at = c;
    drain(s, out, onEnd);
  }
  return out;
}

const PIPELINE = Buffer.from(
  [
    "\r\nGET /a?x=1 HTTP/1.1\r\nHost: example.test\r\nX-Test-User: alice\r\n\r\n",
    "POST /orders HTTP/1.1\r\nhost: example.test\r\ncontent-length: 5\r\n\r\nhello",
    "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: t\r\n\r\n",
    "GET /lf HTTP/1.0\nHost: lf\n\n",
    "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n",
  ].join(""),
  "latin1",
);

describe("HTTP/1.x framing", () => {
  test("heads: request line, path, host, headers; status line", () => {
    const r = parseRequestHead(Buffer.from("GET http://a.test:8080/p/q?z HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n")) as RequestHead;
    assert.equal(r.method, "GET");
    assert.equal(r.path, "/p/q");
    assert.equal(requestHost(r), "a.test:8080");
    assert.deepEqual(r.headers, [
      { name: "x-a", value: "1" },
      { name: "x-a", value: "2" },
    ]);
    assert.equal(pathOf("/a#f"), "/a");
    const s = parseResponseHead(Buffer.from("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n\r\n")) as ResponseHead;
    assert.equal(s.status, 503);
    assert.equal(s.reason, "Service Unavailable");
    for (const bad of ["GET / HTTP/2.0\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n folded\r\n\r\n", "GET / HTTP/1.1\r\nno colon\r\n\r\n"]) {
      assert.equal(typeof parseRequestHead(Buffer.from(bad)), "string", bad);
    }
    assert.equal(findHeadEnd(Buffer.from("GET / HTTP/1.1\r\nA: b\r\n\r")), -1);
    assert.equal(findHeadEnd(Buffer.from("GET / HTTP/1.1\r\n\r\nrest")), 18);
  });

  test("bodies: content-length, chunked with extensions and trailers, conflicting lengths refused", () => {
    const chunked = new BodyReader({ kind: "chunked" });
    const body = Buffer.from("5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\nNEXT");
    assert.deepEqual(chunked.read(body), { used: body.length - 4, done: true });
    assert.equal(typeof new BodyReader({ kind: "chunked" }).read(Buffer.from("zz\r\n")), "string");
    assert.equal(typeof new BodyReader({ kind: "chunked" }).read(Buffer.from("1\r\naXY")), "string");
    const head = (h: string): RequestHead => parseRequestHead(Buffer.from(`POST / HTTP/1.1\r\n${h}\r\n\r\n`)) as RequestHead;
    assert.deepEqual(requestFraming(head("Content-Length: 7")), { kind: "length", length: 7 });
    assert.deepEqual(requestFraming(head("Content-Length: 7, 7")), { kind: "length", length: 7 });
    assert.equal(typeof requestFraming(head("Content-Length: 7\r\nContent-Length: 8")), "string");
    assert.equal(typeof requestFraming(head("Transfer-Encoding: gzip")), "string");
    const res = (h: string): ResponseHead => parseResponseHead(Buffer.from(`HTTP/1.1 ${h}\r\n\r\n`)) as ResponseHead;
    assert.deepEqual(responseFraming(res("200 OK\r\nContent-Length: 9"), "HEAD"), { kind: "length", length: 0 });
    assert.deepEqual(responseFraming(res("204 No Content"), "GET"), { kind: "length", length: 0 });
    assert.deepEqual(responseFraming(res("200 OK"), "GET"), { kind: "close" });
    assert.deepEqual(responseFraming(res("101 Switching Protocols"), "GET"), { kind: "tunnel" });
    assert.deepEqual(responseFraming(res("200 OK"), "CONNECT"), { kind: "tunnel" });
    assert.deepEqual(responseFraming(res("100 Continue"), "POST"), { kind: "length", length: 0 });
  });

  test("pipelined requests come out whole and in order however the bytes are cut", () => {
    const whole = split(new MessageSplitter(requestGrammar), PIPELINE, []);
    assert.deepEqual(
      whole.heads.map((h) => `${h.method} ${h.path}`),
      ["GET /a", "POST /orders", "PUT /up", "GET /lf", "HEAD /h"],
    );
    assert.deepEqual(whole.bodies, ["", "hello", "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: t\r\n\r\n", "", ""]);
    assert.equal(whole.ends, 5);
    assert.ok(whole.all.equals(PIPELINE));
    // every single cut, then random multi-cuts
    for (let c = 1; c < PIPELINE.length; c++) {
      const r = split(new MessageSplitter(requestGrammar), PIPELINE, [c]);
      assert.equal(r.ends, 5, `cut at ${c}`);
      assert.deepEqual(r.bodies, whole.bodies, `cut at ${c}`);
      assert.ok(r.all.equals(PIPELINE), `cut at ${c}`);
    }
    const random = seededRandom(15);
    for (let n = 0; n < 300; n++) {
      const cuts = Array.from({ length: 1 + Math.floor(random() * 20) }, () => Math.floor(random() * PIPELINE.length)).sort((a, b) => a - b);
      const r = split(new MessageSplitter(requestGrammar), PIPELINE, cuts);
      assert.equal(r.ends, 5);
      assert.ok(r.all.equals(PIPELINE));
    }
  });

  test("responses: framed by the request method; 101 turns the rest into raw bytes", () => {
    const methods = ["HEAD", "GET", "GET", "GET"];
    const stream = Buffer.from(
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + // HEAD: no body despite the length
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
        "HTTP/1.1 100 Continue\r\n\r\n" +
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" +
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
      "latin1",
    );
    let lastStatus = 0;
    const grammar = responseGrammar(methods);
    const splitter = new MessageSplitter({
      ...grammar,
      parse: (b: Buffer) => {
        const h = grammar.parse(b);
        if (typeof h !== "string") lastStatus = h.status;
        return h;
      },
    });
    // the answer queue pops on a final answer only
    const r = split(splitter, stream, [7, 50], () => {
      if (lastStatus >= 200) methods.shift();
    });
    assert.deepEqual(
      r.heads.map((h) => h.status),
      [200, 200, 100, 200, 101],
    );
    assert.deepEqual(r.bodies.slice(0, 4), ["", "2\r\nhi\r\n0\r\n\r\n", "", "ok"]);
    assert.equal(r.raw, "\x81\x02hi");
    assert.ok(r.all.equals(stream));
  });

  test("malformed and oversized heads: reported once, then every byte passes as raw", () => {
    const garbage = Buffer.from("\x16\x03\x01\x02\x00garbage without newlines and then\r\n\r\nGET / HTTP/1.1\r\n\r\n", "latin1");
    const g = split(new MessageSplitter(requestGrammar), garbage, [3]);
    assert.equal(g.invalid.length, 1);
    assert.equal(g.heads.length, 0);
    assert.ok(g.all.equals(garbage));

    const big = Buffer.concat([Buffer.from("GET / HTTP/1.1\r\nX-Big: "), Buffer.alloc(70_000, 97), Buffer.from("\r\n\r\n")]);
    const cuts = Array.from({ length: 70 }, (_, i) => (i + 1) * 1000);
    const s = new MessageSplitter(requestGrammar);
    const b = split(s, big, cuts);
    assert.equal(b.invalid.length, 1);
    assert.match(b.invalid[0]!, /larger than/);
    assert.ok(b.all.equals(big));
    assert.equal(s.buffered, 0);

    // a bad chunk mid-body: the body so far came as body, the rest as raw, nothing lost
    const badChunk = Buffer.from("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n", "latin1");
    const c = split(new MessageSplitter(requestGrammar), badChunk, [55]);
    assert.equal(c.invalid.length, 1);
    assert.ok(c.all.equals(badChunk));
  });

  test("switchToRaw mid-message takes effect at the message's end", () => {
    const s = new MessageSplitter(requestGrammar);
    s.push(Buffer.from("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nFRAMES"));
    const head = s.next();
    assert.equal(head?.kind, "head");
    s.switchToRaw();
    assert.equal(s.next()?.kind, "end");
    const raw = s.next();
    assert.equal(raw?.kind, "raw");
    assert.equal(raw?.kind === "raw" ? raw.bytes.toString() : "", "FRAMES");
  });
});
