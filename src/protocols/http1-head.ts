// HTTP/1.x message heads (RFC 9112): the request line or status line and the header fields, read
// from the raw bytes. Only what framing and rule matching need; the bytes themselves are forwarded
// unchanged, so nothing here is ever re-serialised.

/** A head larger than this is not parsed (the connection passes through untouched from there). */
export const MAX_HEAD_BYTES = 64 * 1024;

export interface HeaderField {
  /** lower case */
  name: string;
  value: string;
}

export interface RequestHead {
  method: string;
  /** the request target as sent (origin form "/a?b", absolute form, "*", or authority for CONNECT) */
  target: string;
  /** the path of the target, without the query ("/a") */
  path: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 */
  minor: number;
  headers: HeaderField[];
}

export interface ResponseHead {
  status: number;
  reason: string;
  minor: number;
  headers: HeaderField[];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VERSION = /^HTTP\/1\.([01])$/;

/**
 * Where the head that starts at 0 ends (the index just past its blank line), or -1 while the
 * blank line has not arrived. Lines may end in CRLF or a bare LF (RFC 9112 2.2). `from` lets a
 * caller resume a search over a growing buffer.
 */
export function findHeadEnd(buf: Buffer, from = 0): number {
  let i = buf.indexOf(10, Math.max(0, from));
  while (i >= 0) {
    const next = buf[i + 1];
    if (next === 10) return i + 2;
    if (next === 13 && buf[i + 2] === 10) return i + 3;
    if (next === undefined || (next === 13 && buf[i + 2] === undefined)) return -1;
    i = buf.indexOf(10, i + 1);
  }
  return -1;
}

/** Leading empty lines a client may send before a request line (RFC 9112 2.2): how many bytes. */
export function leadingEmptyLines(buf: Buffer): number {
  let i = 0;
  for (;;) {
    if (buf[i] === 10) i += 1;
    else if (buf[i] === 13 && buf[i + 1] === 10) i += 2;
    else return i;
  }
}

function lines(head: Buffer): string[] {
  const text = head.toString("latin1");
  const out = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out;
}

function parseFields(rows: string[]): HeaderField[] | string {
  const headers: HeaderField[] = [];
  for (const row of rows) {
    if (row.startsWith(" ") || row.startsWith("\t")) return "obsolete header line folding";
    const colon = row.indexOf(":");
    if (colon <= 0) return `header line without a name: ${JSON.stringify(row.slice(0, 40))}`;
    const name = row.slice(0, colon);
    if (!TOKEN.test(name)) return `bad header name ${JSON.stringify(name.slice(0, 40))}`;
    const value = row.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) return `bad character in header ${name}`;
    headers.push({ name: name.toLowerCase(), value });
  }
  return headers;
}

/** Parses a request head (from its first byte to its blank line); a string says what is wrong. */
export function parseRequestHead(head: Buffer): RequestHead | string {
  const rows = lines(head.subarray(leadingEmptyLines(head)));
  const first = rows.shift();
  if (first === undefined) return "empty request";
  const parts = first.split(" ");
  if (parts.length !== 3) return `bad request line ${JSON.stringify(first.slice(0, 60))}`;
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method)) return `bad method ${JSON.stringify(method.slice(0, 20))}`;
  if (target === "" || /[\0-\x20\x7f]/.test(target)) return "bad request target";
  const v = VERSION.exec(version);
  if (!v) return `unsupported version ${JSON.stringify(version.slice(0, 20))}`;
  const headers = parseFields(rows);
  if (typeof headers === "string") return headers;
  return { method, target, path: pathOf(target), minor: Number(v[1]), headers };
}

/** Parses a response head; a string says what is wrong. */
export function parseResponseHead(head: Buffer): ResponseHead | string {
  const rows = lines(head);
  const first = rows.shift();
  if (first === undefined) return "empty response";
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(first);
  if (!m) return `bad status line ${JSON.stringify(first.slice(0, 60))}`;
  const headers = parseFields(rows);
  if (typeof headers === "string") return headers;
  return { status: Number(m[2]), reason: m[3] ?? "", minor: Number(m[1]), headers };
}

/** The path of a request target: origin form up to "?", absolute form's path, else the target. */
export function pathOf(target: string): string {
  let t = target;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(t);
  if (scheme) t = t.slice(scheme[0].length) || "/";
  const q = t.search(/[?#]/);
  return q >= 0 ? t.slice(0, q) : t;
}

/** Every value of a header, in order. */
export function headerValues(headers: readonly HeaderField[], name: string): string[] {
  const out: string[] = [];
  for (const h of headers) if (h.name === name) out.push(h.value);
  return out;
}

/** A header's values joined by ", " (RFC 9110 5.3), or undefined when absent. */
export function headerValue(headers: readonly HeaderField[], name: string): string | undefined {
  const v = headerValues(headers, name);
  return v.length === 0 ? undefined : v.join(", ");
}

/** The comma-separated tokens of a header, lower case (Connection, Transfer-Encoding...). */
export function headerTokens(headers: readonly HeaderField[], name: string): string[] {
  const v = headerValue(headers, name);
  if (v === undefined) return [];
  return v
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
}

/** The host a request is for: the Host header, or the authority of an absolute target. */
export function requestHost(head: RequestHead): string {
  const abs = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(head.target);
  if (abs) return abs[1]!;
  return headerValue(head.headers, "host") ?? (head.method === "CONNECT" ? head.target : "");
}
