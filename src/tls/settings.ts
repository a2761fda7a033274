// A proxy's `tls` setting: checked (every bad field named), then loaded (files read, PEM
// parsed, a certificate matched with its key) into what the TLS code needs. Bad material is
// refused here, when the proxy is made, not on its first connection.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import type { FieldError } from "../field-error.js";
import type { ProxyTlsSpec } from "../control/protocol.js";

/** How the agent speaks TLS to the upstream. */
export interface UpstreamTls {
  /** false: insecure (no verification; said in status and the log) */
  verify: boolean;
  /** PEM; absent = the system roots */
  ca?: string;
  servername?: string;
  /** a client certificate (mTLS) */
  cert?: string;
  key?: string;
}

/** The client side: a certificate from the agent's CA, or the one given. */
export type ClientTls = { auto: true } | { auto: false; cert: string; key: string; context: SecureContext };

export interface LoadedTls {
  /** as shown in status (PEM text shown as "(PEM)") */
  spec: ProxyTlsSpec;
  /** as given, file paths made absolute (a later update merges onto it) */
  source: ProxyTlsSpec;
  client: ClientTls | null;
  upstream: UpstreamTls | null;
}

export class TlsSettingError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join("; "));
  }
}

const PEM = "-----BEGIN";
const CLIENT_FIELDS = ["cert", "key"] as const;
const UPSTREAM_FIELDS = ["ca", "servername", "cert", "key"] as const;

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks a `tls` value's shape; `path` names it (e.g. "params.tls", "proxies[0].tls"). */
export function checkTlsSpec(value: unknown, path: string): { spec: ProxyTlsSpec | null; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const bad = (p: string, message: string): void => void errors.push({ path: p, message });
  if (!isRecord(value)) {
    bad(path, `expected {client?: auto | {cert, key}, upstream?: verify | insecure | {ca?, servername?, cert?, key?}}, got ${show(value)}`);
    return { spec: null, errors };
  }
  for (const k of Object.keys(value)) if (k !== "client" && k !== "upstream") bad(`${path}.${k}`, `unknown field (known: client, upstream)`);
  const spec: ProxyTlsSpec = {};
  const c = value.client;
  if (c !== undefined && c !== null) {
    if (c === "auto") spec.client = "auto";
    else if (isRecord(c)) {
      for (const k of Object.keys(c)) if (!(CLIENT_FIELDS as readonly string[]).includes(k)) bad(`${path}.client.${k}`, "unknown field (known: cert, key)");
      for (const k of CLIENT_FIELDS) if (typeof c[k] !== "string" || c[k] === "") bad(`${path}.client.${k}`, `expected a file path or PEM text, got ${show(c[k])}`);
      if (typeof c.cert === "string" && typeof c.key === "string") spec.client = { cert: c.cert, key: c.key };
    } else bad(`${path}.client`, `expected auto or {cert, key}, got ${show(c)}`);
  }
  const u = value.upstream;
  if (u !== undefined && u !== null) {
    if (u === "verify" || u === "insecure") spec.upstream = u;
    else if (isRecord(u)) {
      const up: Exclude<ProxyTlsSpec["upstream"], string | undefined> = {};
      for (const k of Object.keys(u)) if (!(UPSTREAM_FIELDS as readonly string[]).includes(k)) bad(`${path}.upstream.${k}`, "unknown field (known: ca, servername, cert, key)");
      for (const k of UPSTREAM_FIELDS) {
        const v = u[k];
        if (v === undefined) continue;
        if (typeof v !== "string" || v === "") bad(`${path}.upstream.${k}`, `expected ${k === "servername" ? "a host name" : "a file path or PEM text"}, got ${show(v)}`);
        else up[k] = v;
      }
      if ((up.cert === undefined) !== (up.key === undefined)) bad(`${path}.upstream.${up.cert === undefined ? "cert" : "key"}`, "a client certificate needs both cert and key");
      spec.upstream = up;
    } else bad(`${path}.upstream`, `expected verify, insecure or {ca?, servername?, cert?, key?}, got ${show(u)}`);
  }
  if (errors.length === 0 && spec.client === undefined && spec.upstream === undefined) bad(path, "give client, upstream or both (or leave tls out)");
  return { spec: errors.length === 0 ? spec : null, errors };
}

/**
 * Reads and checks the material of a checked spec: files relative to `baseDir`, PEM text as it
 * is. Throws TlsSettingError naming each bad field (a file it cannot read, a certificate or key
 * that does not parse, a key that does not belong to its certificate).
 */
export async function loadTls(spec: ProxyTlsSpec, path: string, baseDir = process.cwd()): Promise<LoadedTls> {
  const errors: FieldError[] = [];
  const read = async (field: string, value: string): Promise<string | null> => {
    if (value.trimStart().startsWith(PEM)) return value;
    const file = resolve(baseDir, value);
    try {
      return await readFile(file, "utf8");
    } catch (err) {
      errors.push({ path: `${path}.${field}`, message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      return null;
    }
  };
  let client: ClientTls | null = null;
  if (spec.client === "auto") client = { auto: true };
  else if (spec.client !== undefined) {
    const cert = await read("client.cert", spec.client.cert);
    const key = await read("client.key", spec.client.key);
    if (cert !== null && key !== null && pairProblem(cert, key, `${path}.client`, errors)) {
      client = { auto: false, cert, key, context: createSecureContext({ cert, key }) };
    }
  }
  let upstream: UpstreamTls | null = null;
  const u = spec.upstream;
  if (u === "verify" || u === "insecure") upstream = { verify: u === "verify" };
  else if (u !== undefined) {
    upstream = { verify: true };
    if (u.servername !== undefined) upstream.servername = u.servername;
    if (u.ca !== undefined) {
      const ca = await read("upstream.ca", u.ca);
      if (ca !== null) {
        const problem = certificateProblem(ca);
        if (problem !== null) errors.push({ path: `${path}.upstream.ca`, message: problem });
        else upstream.ca = ca;
      }
    }
    if (u.cert !== undefined && u.key !== undefined) {
      const cert = await read("upstream.cert", u.cert);
      const key = await read("upstream.key", u.key);
      if (cert !== null && key !== null && pairProblem(cert, key, `${path}.upstream`, errors)) {
        upstream.cert = cert;
        upstream.key = key;
      }
    }
  }
  if (errors.length > 0) throw new TlsSettingError(errors);
  return { spec: displayed(spec), source: absolute(spec, baseDir), client, upstream };
}

/** The spec with its file paths made absolute. */
function absolute(spec: ProxyTlsSpec, baseDir: string): ProxyTlsSpec {
  const abs = (v: string): string => (v.trimStart().startsWith(PEM) ? v : resolve(baseDir, v));
  const out: ProxyTlsSpec = {};
  if (spec.client !== undefined) out.client = spec.client === "auto" ? "auto" : { cert: abs(spec.client.cert), key: abs(spec.client.key) };
  if (spec.upstream !== undefined) {
    const u = spec.upstream;
    out.upstream = typeof u === "string" ? u : Object.fromEntries(Object.entries(u).map(([k, v]) => [k, k === "servername" ? v : abs(v as string)]));
  }
  return out;
}

/** A proxy.update's tls onto the current one: a side given replaces it, a side given null removes it. */
export function mergeTls(current: ProxyTlsSpec | null, change: unknown): unknown {
  if (current === null || typeof change !== "object" || change === null || Array.isArray(change)) return change;
  const merged: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(change)) {
    if (v === null) delete merged[k];
    else merged[k] = v;
  }
  return Object.keys(merged).length === 0 ? null : merged;
}

/** The spec as status shows it: PEM text as "(PEM)". */
function displayed(spec: ProxyTlsSpec): ProxyTlsSpec {
  const hide = (v: string): string => (v.trimStart().startsWith(PEM) ? "(PEM)" : v);
  const out: ProxyTlsSpec = {};
  if (spec.client !== undefined) out.client = spec.client === "auto" ? "auto" : { cert: hide(spec.client.cert), key: hide(spec.client.key) };
  if (spec.upstream !== undefined) {
    const u = spec.upstream;
    out.upstream = typeof u === "string" ? u : Object.fromEntries(Object.entries(u).map(([k, v]) => [k, k === "servername" ? v : hide(v as string)]));
  }
  return out;
}

function certificateProblem(pem: string): string | null {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) return "not a PEM certificate (no -----BEGIN CERTIFICATE----- block)";
  try {
    new X509Certificate(pem);
    return null;
  } catch (err) {
    return `not a valid certificate (${(err as Error).message})`;
  }
}

/** True when the pair is good; else its problems are added (`at` names the pair's parent). */
function pairProblem(cert: string, key: string, at: string, errors: FieldError[]): boolean {
  const certProblem = certificateProblem(cert);
  if (certProblem !== null) {
    errors.push({ path: `${at}.cert`, message: certProblem });
    return false;
  }
  let ok: boolean;
  try {
    ok = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    errors.push({ path: `${at}.key`, message: `not a valid PEM private key (${(err as Error).message})` });
    return false;
  }
  if (!ok) errors.push({ path: `${at}.key`, message: "the key does not belong to the certificate" });
  return ok;
}
