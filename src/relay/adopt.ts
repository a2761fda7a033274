// An accepted client socket, read into reusable buffers. `net.Server` builds its sockets without
// the `onread` option (Node 20-24 take it only in `new net.Socket()` and `net.connect()`), so the
// accepted connection's handle is moved into a new Socket that has it, the way net.Server itself
// wraps an accepted handle (`new Socket({ handle, ... })`). The old Socket object is left without a
// handle and never used again. This leans on Node internals (the `handle` option, `_handle`,
// `_server`); when they are not there, the socket is returned as it is and read with 'data' events.
import net, { type Socket } from "node:net";
import type { OnReadOption } from "./reader.js";

interface SocketInternals {
  _handle?: { readStart?: unknown } | null;
  _server?: unknown;
  server?: unknown;
}

/**
 * Returns a Socket on the same connection as `accepted` (a paused socket from a server with
 * pauseOnConnect and allowHalfOpen) that reads into `onread`'s buffers, or null when this Node
 * cannot move the handle (the caller then reads `accepted` as it is).
 */
export function adoptAccepted(accepted: Socket, onread: OnReadOption): Socket | null {
  const old = accepted as Socket & SocketInternals;
  const handle = old._handle;
  if (accepted.destroyed || handle === null || handle === undefined || typeof handle.readStart !== "function") return null;
  old._handle = null;
  const options = { handle, onread, allowHalfOpen: true, pauseOnCreate: true, readable: true, writable: true };
  const adopted = new net.Socket(options as net.SocketConstructorOpts) as Socket & SocketInternals;
  // the server counts its connections on the sockets it made and server.close() waits for the
  // count to drop: the new socket takes the old one's place in that count
  adopted.server = old.server;
  adopted._server = old._server;
  old._server = null;
  old.server = null;
  return adopted;
}
