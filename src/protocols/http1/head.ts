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

/** tchar (RFC 9110 5.6.2) by byte value */
const TCHAR = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[ch.charCodeAt(0)] = 1;

/** Where the line that starts at `pos` ends without its CR (or LF), and where the next one starts. */
function lineAt(text: string, pos: number): [end: number, next: number] {
  let nl = text.indexOf("\n", pos);
  if (nl < 0) nl = text.length;
  const end = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
  return [end, nl + 1];
}

/** The header fields from `pos` to the blank line, scanned in the head's text (one string per head). */
function parseFields(text: string, pos: number): HeaderField[] | string {
  const headers: HeaderField[] = [];
  // a NUL anywhere is rare: only then is every value searched for one
  const nul = text.indexOf("\0", pos) >= 0;
  while (pos < text.length) {
    const [end, next] = lineAt(text, pos);
    if (end === pos) break; // the blank line
    const first = text.charCodeAt(pos);
    if (first === 32 || first === 9) return "obsolete header line folding";
    const colon = text.indexOf(":", pos);
    if (colon < 0 || colon >= end || colon === pos) return `header line without a name: ${JSON.stringify(text.slice(pos, Math.min(end, pos + 40)))}`;
    let upper = false;
    for (let i = pos; i < colon; i++) {
      const c = text.charCodeAt(i);
      if (TCHAR[c] !== 1) return `bad header name ${JSON.stringify(text.slice(pos, Math.min(colon, pos + 40)))}`;
      if (c >= 65 && c <= 90) upper = true;
    }
    let vs = colon + 1;
    let ve = end;
    while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
    while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
    const cr = text.indexOf("\r", vs);
    if ((cr >= 0 && cr < ve) || (nul && text.slice(vs, ve).includes("\0"))) return `bad character in header ${text.slice(pos, colon)}`;
    const name = text.slice(pos, colon);
    headers.push({ name: upper ? name.toLowerCase() : name, value: text.slice(vs, ve) });
    pos = next;
  }
  return headers;
}

/** Parses a request head (from its first byte to its blank line); a string says what is wrong. */
export function parseRequestHead(head: Buffer): RequestHead | string {
  const text = head.toString("latin1", leadingEmptyLines(head));
  if (text.length === 0) return "empty request";
  const [end, next] = lineAt(text, 0);
  const first = text.slice(0, end);
  const sp1 = first.indexOf(" ");
  const sp2 = sp1 < 0 ? -1 : first.indexOf(" ", sp1 + 1);
  if (sp2 < 0 || first.indexOf(" ", sp2 + 1) >= 0) return `bad request line ${JSON.stringify(first.slice(0, 60))}`;
  const method = first.slice(0, sp1);
  const target = first.slice(sp1 + 1, sp2);
  const version = first.slice(sp2 + 1);
  if (!TOKEN.test(method)) return `bad method ${JSON.stringify(method.slice(0, 20))}`;
  if (target === "" || /[\0-\x20\x7f]/.test(target)) return "bad request target";
  const v = VERSION.exec(version);
  if (!v) return `unsupported version ${JSON.stringify(version.slice(0, 20))}`;
  const headers = parseFields(text, next);
  if (typeof headers === "string") return headers;
  return { method, target, path: pathOf(target), minor: v[1] === "1" ? 1 : 0, headers };
}

/** Parses a response head; a string says what is wrong. */
export function parseResponseHead(head: Buffer): ResponseHead | string {
  const text = head.toString("latin1");
  if (text.length === 0 || text.charCodeAt(0) === 10 || text.charCodeAt(0) === 13) return "empty response";
  const [end, next] = lineAt(text, 0);
  const first = text.slice(0, end);
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(first);
  if (!m) return `bad status line ${JSON.stringify(first.slice(0, 60))}`;
  const headers = parseFields(text, next);
  if (typeof headers === "string") return headers;
  return { status: Number(m[2]), reason: m[3] ?? "", minor: m[1] === "1" ? 1 : 0, headers };
}

/** The path of a request target: origin form up to "?", absolute form's path, else the target. */
export function pathOf(target: string): string {
  if (target.charCodeAt(0) === 47 /* "/": origin form, the usual case */) {
    const q = target.search(/[?#]/);
    return q >= 0 ? target.slice(0, q) : target;
  }
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
  let value: string | undefined;
  for (const h of headers) if (h.name === name) value = value === undefined ? h.value : `${value}, ${h.value}`;
  return value;
}

/** True when the head has a field of this (lower-case) name. */
export function hasHeader(headers: readonly HeaderField[], name: string): boolean {
  for (const h of headers) if (h.name === name) return true;
  return false;
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
