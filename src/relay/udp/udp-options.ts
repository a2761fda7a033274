// A udp or dns proxy's own settings, as given in agent.yaml, proxy.create and the library.
import { parseDuration, showValue, UnitError } from "../../units.js";

/** `udpIdle`: a duration of at least 100 ms (1s, 60s, 5m); the error text when it is not one. */
export function parseUdpIdle(v: unknown): number | string {
  try {
    const ms = parseDuration(v);
    if (ms < 100) return `expected a duration of at least 100ms, got ${showValue(v)}`;
    return ms;
  } catch (err) {
    return err instanceof UnitError ? err.message : String(err);
  }
}
