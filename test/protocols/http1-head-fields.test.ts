// The HTTP/1.x head parser's field rules (the scanner reads one string per head): names lower
// case, optional whitespace trimmed, NUL and bare CR refused, the request line's three parts,
// content-length forms. No sockets: the relay-level behaviour is in http-faults.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRequestHead, parseResponseHead, type RequestHead, type ResponseHead } from "../../src/protocols/http1/head.js";
import { requestFraming, responseFraming } from "../../src/protocols/http1/body.js";

const req = (s: string): RequestHead | string => parseRequestHead(Buffer.from(s, "latin1"));
const res = (s: string): ResponseHead | string => parseResponseHead(Buffer.from(s, "latin1"));

test("header names come lower case and values without their optional whitespace", () => {
  const h = req("GET /a HTTP/1.1\r\nHost: x.test\r\nX-Mixed-Case:\t  v a l \t\r\nx-lower:v\r\nEmpty:\r\n\r\n") as RequestHead;
  assert.deepEqual(h.headers, [
    { name: "host", value: "x.test" },
    { name: "x-mixed-case", value: "v a l" },
    { name: "x-lower", value: "v" },
    { name: "empty", value: "" },
  ]);
  assert.equal(h.minor, 1);
  const lf = req("GET /b HTTP/1.0\nA: 1\n\n") as RequestHead;
  assert.deepEqual(lf.headers, [{ name: "a", value: "1" }]);
  assert.equal(lf.minor, 0);
});

test("a NUL or a bare CR in a value, a bad name or a bad request line is refused with a reason", () => {
  assert.match(req("GET / HTTP/1.1\r\nA: x\0y\r\n\r\n") as string, /bad character in header A/);
  assert.match(req("GET / HTTP/1.1\r\nA: x\ry\r\n\r\n") as string, /bad character in header A/);
  assert.match(req("GET / HTTP/1.1\r\nB d: x\r\n\r\n") as string, /bad header name "B d"/);
  assert.match(req("GET / HTTP/1.1\r\n: x\r\n\r\n") as string, /without a name/);
  assert.match(req("GET / HTTP/1.1 extra\r\n\r\n") as string, /bad request line/);
  assert.match(req("GET /\r\n\r\n") as string, /bad request line/);
  assert.match(req("GET / HTTP/1.2\r\n\r\n") as string, /unsupported version/);
  assert.match(res("HTTP/1.1 20 OK\r\n\r\n") as string, /bad status line/);
  // a NUL elsewhere in the head does not make good values bad
  assert.equal(typeof req("GET / HTTP/1.1\r\nA: ok\r\nB: x\0\r\n\r\n"), "string");
  assert.equal(typeof req("GET / HTTP/1.1\r\nA: ok\r\nB: fine\r\n\r\n"), "object");
});

test("content-length: one value, repeated equal values, and disagreeing ones", () => {
  const framing = (h: string): unknown => requestFraming(req(`POST / HTTP/1.1\r\n${h}\r\n\r\n`) as RequestHead);
  assert.deepEqual(framing("Content-Length: 12"), { kind: "length", length: 12 });
  assert.deepEqual(framing("Content-Length: 5, 5\r\ncontent-length: 5"), { kind: "length", length: 5 });
  assert.match(framing("Content-Length: 5\r\nContent-Length: 6") as string, /bad content-length/);
  assert.match(framing("Content-Length: -1") as string, /bad content-length/);
  assert.deepEqual(framing("Transfer-Encoding: gzip, chunked"), { kind: "chunked" });
  const r = res("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n") as ResponseHead;
  assert.deepEqual(responseFraming(r, "GET"), { kind: "length", length: 3 });
  assert.deepEqual(responseFraming(r, "HEAD"), { kind: "length", length: 0 });
});
