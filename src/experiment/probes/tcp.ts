// A tcp probe: a fresh connection each sample; connected is a success, and it is closed at once.
import net from "node:net";
import type { TcpCheck } from "../types.js";
import { causeOf, failure, SUCCESS, type Outcome } from "./outcome.js";

export function probeTcp(check: TcpCheck, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: check.host, port: check.port, noDelay: true });
    let settled = false;
    const settle = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(o);
    };
    const onAbort = (): void => settle(failure("aborted"));
    const timer = setTimeout(() => settle(failure("timeout")), timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => settle(SUCCESS));
    socket.on("error", (err) => settle(failure(causeOf(err))));
    socket.once("close", () => settle(failure("closed")));
  });
}
