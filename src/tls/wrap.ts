// Wrapping a proxy's sockets in TLS, with node's `tls`: the client side (the agent is the
// server: a certificate for the SNI name, else the listen address) and the upstream side (the
// agent is the client: verified against the system roots or a given CA, optionally with a client
// certificate). Both resolve once the handshake is done, or reject with a TlsFailure whose reason
// says what went wrong in words.
import { isIP, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { connect as tlsConnect, createSecureContext, TLSSocket, type SecureContext } from "node:tls";
import type { AgentCa } from "./agent-ca.js";
import type { ClientTls, UpstreamTls } from "./settings.js";

export type TlsSide = "client" | "upstream";

/** A TLS handshake (or the protocol's upgrade before it) that failed. */
export class TlsFailure extends Error {
  constructor(
    readonly side: TlsSide,
    /** a short, stable cause (an OpenSSL or node code): failures are logged once per code */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Names a listen host stands for in a certificate when the client sends no SNI. */
export function listenNames(host: string): string[] {
  if (host === "0.0.0.0" || host === "::" || host === "") {
    const names = new Set<string>(["localhost"]);
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) if (host !== "0.0.0.0" || a.family === "IPv4") names.add(a.address.replace(/%.*$/, ""));
    return [...names];
  }
  return host === "localhost" ? ["localhost", "127.0.0.1", "::1"] : [host];
}

/** A proxy's client-side certificates: one per SNI name (auto), or the given one for all. */
export class ClientCertificates {
  private readonly contexts = new Map<string, SecureContext>();

  constructor(
    private readonly tls: ClientTls,
    private readonly ca: AgentCa | null,
    private readonly listenHost: () => string,
  ) {
    if (tls.auto && ca === null) throw new Error("tls.client auto needs the agent CA");
  }

  /** The context for a client that asked for `servername` (null: no SNI, the listen address). */
  contextFor(servername: string | null): SecureContext {
    if (!this.tls.auto) return this.tls.context;
    const names = servername !== null ? [servername.toLowerCase()] : listenNames(this.listenHost());
    const key = names.join(",");
    let ctx = this.contexts.get(key);
    if (ctx === undefined) {
      const leaf = this.ca!.leaf(names);
      ctx = createSecureContext({ cert: leaf.cert, key: leaf.key });
      // the CA's leaves are cached and renewed there; a context follows its leaf
      if (this.contexts.size >= 256) this.contexts.delete(this.contexts.keys().next().value as string);
      this.contexts.set(key, ctx);
      setTimeout(() => this.contexts.delete(key), 3600_000).unref();
    }
    return ctx;
  }
}

/** Makes the agent the TLS server on an accepted socket (its unread bytes included). */
export function acceptTls(socket: Socket, certs: ClientCertificates, alpn: readonly string[], timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolvePromise, reject) => {
    const tlsSocket = new TLSSocket(socket, {
      isServer: true,
      secureContext: certs.contextFor(null),
      SNICallback: (name, cb) => {
        try {
          cb(null, certs.contextFor(name));
        } catch (err) {
          cb(err as Error);
        }
      },
      ...(alpn.length > 0 ? { ALPNProtocols: [...alpn] } : {}),
    });
    const timer = setTimeout(() => fail(new TlsFailure("client", "timeout", `no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: TlsFailure): void => {
      clearTimeout(timer);
      tlsSocket.destroy();
      socket.destroy();
      reject(err);
    };
    tlsSocket.once("error", (err: NodeJS.ErrnoException) => fail(clientFailure(err)));
    tlsSocket.once("close", () => fail(new TlsFailure("client", "closed", "the client closed before the TLS handshake finished (does it trust the agent's CA?)")));
    tlsSocket.once("secure", () => {
      clearTimeout(timer);
      tlsSocket.removeAllListeners("error");
      tlsSocket.removeAllListeners("close");
      resolvePromise(tlsSocket);
    });
  });
}

/** Makes the agent a TLS client on a connected upstream socket. */
export function connectTls(socket: Socket, host: string, tls: UpstreamTls, alpn: readonly string[], timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolvePromise, reject) => {
    const servername = tls.servername ?? (isIP(host) === 0 ? host : undefined);
    const tlsSocket = tlsConnect({
      socket,
      host,
      ...(servername !== undefined ? { servername } : {}),
      rejectUnauthorized: tls.verify,
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert, key: tls.key } : {}),
      ...(alpn.length > 0 ? { ALPNProtocols: [...alpn] } : {}),
    });
    const timer = setTimeout(() => fail(new TlsFailure("upstream", "timeout", `no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: TlsFailure): void => {
      clearTimeout(timer);
      tlsSocket.destroy();
      reject(err);
    };
    tlsSocket.once("error", (err: NodeJS.ErrnoException) => fail(upstreamFailure(err, servername ?? host)));
    tlsSocket.once("close", () => fail(new TlsFailure("upstream", "closed", "the server closed during the TLS handshake")));
    tlsSocket.once("secureConnect", () => {
      clearTimeout(timer);
      tlsSocket.removeAllListeners("error");
      tlsSocket.removeAllListeners("close");
      resolvePromise(tlsSocket);
    });
  });
}

const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

function upstreamFailure(err: NodeJS.ErrnoException, name: string): TlsFailure {
  const code = err.code ?? "ERR_TLS";
  if (code === "CERT_HAS_EXPIRED") return new TlsFailure("upstream", code, `the server's certificate has expired (${code})`);
  if (code === "CERT_NOT_YET_VALID") return new TlsFailure("upstream", code, `the server's certificate is not valid yet (${code})`);
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return new TlsFailure("upstream", code, `the server's certificate is not for ${name}: ${err.message} (${code})`);
  if (UNTRUSTED.has(code)) return new TlsFailure("upstream", code, `the server's certificate is not signed by a trusted CA: ${err.message} (${code}); give upstream: {ca: FILE}`);
  return new TlsFailure("upstream", code, `${err.message} (${code})`);
}

function clientFailure(err: NodeJS.ErrnoException): TlsFailure {
  const code = err.code ?? "ERR_TLS";
  const text = err.message;
  // OpenSSL's alert text: "... alert bad certificate", "... alert unknown ca"
  const alert = /alert (unknown ca|bad certificate|certificate unknown)/i.exec(text);
  if (alert !== null) return new TlsFailure("client", "untrusted", `the client refused the agent's certificate (TLS alert ${alert[1]!.toLowerCase()}): make it trust the agent's CA (netimpair ca)`);
  if (/wrong version number|http request|unknown protocol|packet length too long/i.test(text)) return new TlsFailure("client", "not-tls", `the client did not speak TLS (${code})`);
  return new TlsFailure("client", code, `${text.trim()} (${code})`);
}
