// PostgreSQL's way to TLS. Client side: an SSLRequest is answered 'S' and the handshake
// follows; a GSSENCRequest is answered 'N' (the client then sends its SSLRequest or startup);
// a first byte 0x16 is direct TLS (PostgreSQL 17's sslnegotiation=direct, ALPN postgresql); a
// plain startup passes as it came. Upstream side: the agent sends its own SSLRequest and goes
// on only if the server answers 'S'.
import type { Socket } from "node:net";
import { readBytes, type TlsNegotiation } from "../../tls/negotiation.js";
import { TlsFailure } from "../../tls/wrap.js";

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
/** a TLS record's first byte: a handshake */
const TLS_HANDSHAKE = 0x16;

function request(code: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(code, 4);
  return b;
}

export const postgresTls: TlsNegotiation = {
  alpn: ["postgresql"],
  async client(socket: Socket, timeoutMs: number): Promise<"tls" | "plain"> {
    // a client may try GSSAPI encryption first, then TLS: at most two asks
    for (let i = 0; i < 2; i++) {
      const first = await readBytes(socket, 1, timeoutMs, "client");
      if (first[0] === TLS_HANDSHAKE) {
        socket.unshift(first);
        return "tls";
      }
      const rest = await readBytes(socket, 7, timeoutMs, "client");
      const head = Buffer.concat([first, rest]);
      const length = head.readInt32BE(0);
      const code = head.readInt32BE(4);
      if (length === 8 && code === SSL_REQUEST) {
        socket.write("S");
        return "tls";
      }
      if (length === 8 && code === GSSENC_REQUEST) {
        socket.write("N");
        continue;
      }
      socket.unshift(head);
      return "plain";
    }
    return "plain";
  },
  async upstream(socket: Socket, timeoutMs: number): Promise<void> {
    socket.write(request(SSL_REQUEST));
    const answer = await readBytes(socket, 1, timeoutMs, "upstream");
    if (answer[0] === 0x53) return; // 'S'
    if (answer[0] === 0x4e) throw new TlsFailure("upstream", "refused", "the server does not offer TLS (it answered N to the SSLRequest); the agent does not go on in plaintext");
    throw new TlsFailure("upstream", "bad-answer", `the server answered the SSLRequest with byte 0x${answer[0]!.toString(16)}, not S or N`);
  },
};
