// The answer an HTTP/1.x `fail` rule sends in place of the server's: a status line, the rule's
// headers, content-type and content-length, and a body (the rule's, or the status and its
// reason, as many servers answer).
import { STATUS_CODES } from "node:http";

export interface HttpFailure {
  /** 400..599 */
  status: number;
  /** header name -> value, as given (sent in this order, after the defaults they replace) */
  headers: Record<string, string>;
  /** null: "<status> <reason>\n" */
  body: string | null;
}

/** A status for an injected answer; a string says why not. */
export function checkHttpStatus(value: unknown): number | string {
  const n = typeof value === "string" && /^\d{3}$/.test(value) ? Number(value) : value;
  if (typeof n === "number" && Number.isInteger(n) && n >= 400 && n <= 599) return n;
  return `must be an HTTP status 400..599, got ${JSON.stringify(value)}`;
}

export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? "Error";
}

export interface AnswerContext {
  /** the request was HEAD: no body, but the length it would have */
  head: boolean;
  /** the client asked for Expect: 100-continue and has a body to send */
  expectsContinue: boolean;
  /** the client will not reuse the connection (Connection: close, or HTTP/1.0 without keep-alive) */
  closes: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A header name and value an answer may carry; a string says why not. */
export function checkHeader(name: string, value: unknown): string | null {
  if (!TOKEN.test(name)) return `bad header name ${JSON.stringify(name)}`;
  if (typeof value !== "string" && typeof value !== "number") return `header ${name}: must be a string, got ${JSON.stringify(value)}`;
  if (/[\0\r\n]/.test(String(value))) return `header ${name}: must not contain CR, LF or NUL`;
  const lower = name.toLowerCase();
  if (lower === "content-length" || lower === "transfer-encoding") return `header ${name}: is set by the agent from the body`;
  return null;
}

/** The bytes of the answer. */
export function encodeAnswer(f: HttpFailure, ctx: AnswerContext): Buffer {
  const body = Buffer.from(f.body ?? `${f.status} ${reasonPhrase(f.status)}\n`, "utf8");
  const given = new Set(Object.keys(f.headers).map((k) => k.toLowerCase()));
  const lines = [`HTTP/1.1 ${f.status} ${reasonPhrase(f.status)}`];
  if (!given.has("content-type")) lines.push("content-type: text/plain; charset=utf-8");
  if (!given.has("date")) lines.push(`date: ${new Date().toUTCString()}`);
  for (const [k, v] of Object.entries(f.headers)) lines.push(`${k}: ${v}`);
  if (ctx.closes && !given.has("connection")) lines.push("connection: close");
  lines.push(`content-length: ${body.length}`);
  const head = Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1");
  const parts = ctx.expectsContinue ? [CONTINUE, head] : [head];
  if (!ctx.head) parts.push(body);
  return Buffer.concat(parts);
}

/** What a server sends a client waiting on Expect: 100-continue before it reads the body. */
const CONTINUE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
