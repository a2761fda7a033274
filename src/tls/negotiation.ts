// How a protocol comes to TLS on each side (the protocol's part; the TLS itself is wrap.ts's).
// Protocols that speak TLS from the first byte (redis, http, grpc, tcp) need only their ALPN
// names; postgres asks first (SSLRequest), on both sides; with mysql the server speaks first (its
// greeting says whether it offers TLS), so both sides come to TLS in one exchange over both sockets.
import type { Socket } from "node:net";
import type { ProtocolStream } from "../requests/protocol.js";
import type { UpstreamTls } from "./settings.js";
import { TlsFailure, type ClientCertificates } from "./wrap.js";

/** What a server-first switch needs to know of the proxy's TLS. */
export interface ServerFirstSides {
  /** names the proxy in what the client is told ("proxy my") */
  label: string;
  /** the client side's certificates (null: the client side stays plaintext) */
  clientCerts: ClientCertificates | null;
  /** TLS towards the upstream (null: plaintext) */
  upstreamTls: UpstreamTls | null;
  /** the upstream's host (SNI and the name checked when no servername is given) */
  host: string;
  timeoutMs: number;
}

/** The sockets a connection runs on after a server-first switch. */
export interface ServerFirstResult {
  client: Socket;
  upstream: Socket;
  /**
   * Wraps the connection's request layer for what is left of the protocol's connection phase
   * (mysql: its packets renumbered when one side only speaks TLS); null: nothing to change.
   */
  stage: ((inner: ProtocolStream) => ProtocolStream) | null;
}

export interface TlsNegotiation {
  /** ALPN protocol names offered to clients and asked of the upstream (empty: none) */
  readonly alpn: readonly string[];
  /**
   * Reads the client's first bytes on the raw accepted socket and answers them as the protocol
   * does before TLS; "tls": the handshake follows (bytes read past the ask are put back),
   * "plain": the client does not ask for TLS (its bytes are put back, they pass as they came).
   * Absent: TLS from the first byte.
   */
  client?(socket: Socket, timeoutMs: number): Promise<"tls" | "plain">;
  /** Asks the upstream for TLS on the raw connected socket; throws a TlsFailure when it says no. */
  upstream?(socket: Socket, timeoutMs: number): Promise<void>;
  /**
   * The server speaks first (mysql): once the upstream is connected, both sides come to TLS in
   * one exchange over the raw client and upstream sockets, instead of client() and upstream().
   * Rejects with a TlsFailure naming the side that failed.
   */
  serverFirst?(client: Socket, upstream: Socket, sides: ServerFirstSides): Promise<ServerFirstResult>;
}

/** Reads exactly `n` bytes from a paused socket (more read are put back), then pauses it again. */
export function readBytes(socket: Socket, n: number, timeoutMs: number, side: "client" | "upstream"): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const done = (err: TlsFailure | null, buf?: Buffer): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", onError);
      socket.pause();
      if (err !== null) reject(err);
      else resolve(buf!);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      have += chunk.length;
      if (have < n) return;
      const all = Buffer.concat(chunks);
      // paused and unhooked first: an unshift on a flowing socket would come straight back here
      done(null, all.subarray(0, n));
      if (all.length > n) socket.unshift(all.subarray(n));
    };
    const onEnd = (): void => done(new TlsFailure(side, "closed", `the ${side === "client" ? "client" : "server"} closed before the TLS negotiation finished`));
    const onError = (err: NodeJS.ErrnoException): void => done(new TlsFailure(side, err.code ?? "error", `${err.message} during the TLS negotiation`));
    const timer = setTimeout(() => done(new TlsFailure(side, "timeout", `no answer within ${timeoutMs} ms during the TLS negotiation`)), timeoutMs);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.once("error", onError);
    socket.resume();
  });
}
