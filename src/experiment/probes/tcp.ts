// A tcp probe: a fresh connection each sample. It is a success when it opens and is not reset
// (RST) within RESET_WINDOW_MS after (or the rest of the timeout, when shorter): an agent's partition
// or refusal accepts and resets at once, which a bare connect would count as up. Its time is
// the connect time; it is closed when the window ends.
import net from "node:net";
import type { TcpCheck } from "../types.js";
import { causeOf, failure, type Outcome } from "./outcome.js";

/** How long an opened connection is watched for a reset before it counts as a success. */
export const RESET_WINDOW_MS = 200;

export function probeTcp(check: TcpCheck, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: check.host, port: check.port, noDelay: true });
    let settled = false;
    let watch: NodeJS.Timeout | null = null;
    const settle = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (watch !== null) clearTimeout(watch);
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(o);
    };
    const onAbort = (): void => settle(failure("aborted"));
    const timer = setTimeout(() => settle(failure("timeout")), timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => {
      const answeredAt = performance.now();
      const left = Math.max(0, timeoutMs - (answeredAt - started));
      watch = setTimeout(() => settle({ ok: true, answeredAt }), Math.min(RESET_WINDOW_MS, left));
    });
    // a reset while watched is a failure, as the http probe counts it; what the server sends is
    // read and dropped
    socket.on("error", (err) => settle(failure(causeOf(err))));
    // a graceful close (FIN) is the server's own answer: it was up
    socket.once("close", () => settle(watch !== null ? { ok: true, answeredAt: performance.now() } : failure("closed")));
    socket.on("data", () => {});
  });
}
