// How many bytes a link may hold before its sender is paused (as a full TCP window would).
import type { DirectionSpec } from "../profiles/types.js";

export const MIN_QUEUE_BYTES = 64 * 1024;
export const UNLIMITED_QUEUE_BYTES = 4 * 1024 * 1024;

/** Bytes a direction may hold: about twice the bandwidth-delay product, at least 64 KiB. */
export function queueBound(spec: DirectionSpec): number {
  if (spec.bandwidth === null) return UNLIMITED_QUEUE_BYTES;
  const bdp = ((spec.bandwidth / 8) * (spec.delay + 2 * spec.jitter)) / 1000;
  return Math.max(MIN_QUEUE_BYTES, Math.ceil(2 * bdp));
}
