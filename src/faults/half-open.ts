// halfOpen {after, mode, hold}: the upstream side is closed (FIN) and forgotten; the client side
// gets nothing, ever (no data, no FIN, no RST) until the client closes it or `hold` ends it with
// a reset. drop = keep reading the client and discard; freeze = stop reading (its window fills).
import type { Socket } from "node:net";
import type { HalfOpenMode } from "../profiles/types.js";
import { sendReset } from "./reset.js";

/** How long a forgotten upstream may linger after its FIN before it is destroyed. */
export const FORGOTTEN_UPSTREAM_MS = 5000;

export interface HalfOpenState {
  cancel(): void;
}

/**
 * Puts the pair into the half-open state. `discard` is called for each chunk the client sends
 * (drop mode). Returns a handle whose cancel() clears the hold timer.
 */
export function enterHalfOpen(client: Socket, upstream: Socket | null, mode: HalfOpenMode, holdMs: number): HalfOpenState {
  if (upstream !== null && !upstream.destroyed) {
    upstream.end();
    const forget = setTimeout(() => upstream.destroy(), FORGOTTEN_UPSTREAM_MS);
    forget.unref();
    upstream.once("close", () => clearTimeout(forget));
  }
  if (mode === "freeze") client.pause();
  else client.resume();
  const hold = setTimeout(() => sendReset(client), holdMs);
  return { cancel: () => clearTimeout(hold) };
}
