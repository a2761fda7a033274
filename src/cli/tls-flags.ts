// `proxy add/update --tls-client ... --tls-upstream ...`: the flags as a proxy's `tls` param.
// Files are read here and sent as PEM text, so a remote agent needs no copy of them.
import { readFileSync } from "node:fs";
import type { ProxyTlsSpec } from "../control/protocol.js";
import { UsageError } from "./output.js";

function pem(flag: string, key: string, path: string | undefined): string {
  if (path === undefined || path === "") throw new UsageError(`${flag}: ${key}= needs a file path`);
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`${flag}: ${key}=${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

function pairs(flag: string, text: string, known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(",")) {
    const eq = item.indexOf("=");
    const key = eq > 0 ? item.slice(0, eq) : item;
    if (!known.includes(key) || eq <= 0) throw new UsageError(`${flag}: expected ${known.map((k) => `${k}=...`).join(",")}, got ${JSON.stringify(item)}`);
    out[key] = item.slice(eq + 1);
  }
  return out;
}

/** --tls-client auto | cert=FILE,key=FILE | off (update: remove the client side) */
export function tlsClientFlag(text: string, allowOff: boolean): ProxyTlsSpec["client"] | null {
  const flag = "--tls-client";
  if (text === "auto") return "auto";
  if (allowOff && text === "off") return null;
  const p = pairs(flag, text, ["cert", "key"]);
  return { cert: pem(flag, "cert", p.cert), key: pem(flag, "key", p.key) };
}

/** --tls-upstream verify | insecure | ca=FILE[,servername=NAME][,cert=FILE,key=FILE] | off */
export function tlsUpstreamFlag(text: string, allowOff: boolean): ProxyTlsSpec["upstream"] | null {
  const flag = "--tls-upstream";
  if (text === "verify" || text === "insecure") return text;
  if (allowOff && text === "off") return null;
  const p = pairs(flag, text, ["ca", "servername", "cert", "key"]);
  if ((p.cert === undefined) !== (p.key === undefined)) throw new UsageError(`${flag}: a client certificate needs both cert= and key=`);
  return {
    ...(p.ca !== undefined ? { ca: pem(flag, "ca", p.ca) } : {}),
    ...(p.servername !== undefined ? { servername: p.servername } : {}),
    ...(p.cert !== undefined ? { cert: pem(flag, "cert", p.cert), key: pem(flag, "key", p.key) } : {}),
  };
}

/** One-line description of a proxy's TLS for the CLI's answers, e.g. " tls(client auto, upstream verify)". */
export function tlsNote(tls: ProxyTlsSpec | undefined): string {
  if (tls === undefined) return "";
  const parts: string[] = [];
  if (tls.client !== undefined) parts.push(`client ${tls.client === "auto" ? "auto" : "cert"}`);
  if (tls.upstream !== undefined) parts.push(`upstream ${typeof tls.upstream === "string" ? tls.upstream : tls.upstream.ca !== undefined ? "ca" : "verify"}${typeof tls.upstream === "object" && tls.upstream.cert !== undefined ? "+mTLS" : ""}`);
  return ` tls(${parts.join(", ")})`;
}
