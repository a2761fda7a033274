// connect {delay, refuse}: a slow upstream connect, and a share of new connections reset at once.
import type { ConnectSpec } from "../profiles/types.js";
import type { Random } from "../clock.js";

export interface ConnectDecision {
  /** reset the client at once, never dial */
  refuse: boolean;
  /** ms to wait before dialling the upstream */
  delay: number;
}

export function decideConnect(spec: ConnectSpec | null, random: Random): ConnectDecision {
  if (spec === null) return { refuse: false, delay: 0 };
  const refuse = spec.refuse >= 1 || (spec.refuse > 0 && random() < spec.refuse);
  return { refuse, delay: spec.delay };
}
