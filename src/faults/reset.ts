// reset: an abrupt RST, so both ends see ECONNRESET, as when a middlebox or a crashed peer drops
// the connection. Toxiproxy's reset_peer only affects new data; this resets at once.
import type { Socket } from "node:net";

/** Sends a RST on the socket (or destroys it when it never connected). Never throws. */
export function sendReset(socket: Socket | null): void {
  if (socket === null || socket.destroyed) return;
  try {
    // After end() libuv refuses a reset (EINVAL while the shutdown is pending), and Node then
    // drops the handle without closing it: no 'close', a leaked fd. The FIN is on its way
    // already, so such a socket is destroyed instead.
    if (socket.connecting || !socket.readable || socket.writableEnded) socket.destroy();
    else {
      // a TLS socket has no TCP handle of its own: the RST goes on the connection under it
      const parent = (socket as Socket & { _parent?: Socket | null })._parent;
      if (parent !== null && parent !== undefined && !parent.destroyed) {
        parent.resetAndDestroy();
        socket.destroy();
      } else socket.resetAndDestroy();
    }
  } catch {
    socket.destroy();
  }
}
