// Which built-in profiles the demo can measure on its plain TCP proxy. Request-fault profiles
// need a proxy that says its protocol; datagram profiles (duplicate) need a udp or dns proxy.
import type { ImpairmentSpec } from "../profiles/types.js";

export type DemoKind = "link" | "request" | "datagram";

export function demoKind(spec: ImpairmentSpec): DemoKind {
  if (spec.requests.length > 0) return "request";
  if ((spec.up.duplicate ?? 0) > 0 || (spec.down.duplicate ?? 0) > 0) return "datagram";
  return "link";
}
