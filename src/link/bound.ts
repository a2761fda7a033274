// How many bytes a link may hold before its sender is paused (as a full TCP window would).
import type { DirectionSpec } from "../profiles/types.js";

export const MIN_QUEUE_BYTES = 64 * 1024;
export const UNLIMITED_QUEUE_BYTES = 4 * 1024 * 1024;
/**
 * A stream link's queue holds at least this long at its rate (up to UNLIMITED_QUEUE_BYTES): what
 * the sender may be ahead while the agent, or the sender itself, is off the CPU. With 64 KiB at
 * 100 Mbps (5 ms), a busy machine let the queue run dry between reads and the link lost 5-15 %
 * of its rate (issue 27); it also takes fewer pauses and reads of the sender.
 */
export const MIN_QUEUE_MS = 20;

/** Bytes a direction may hold: about twice the bandwidth-delay product, at least 64 KiB. */
export function queueBound(spec: DirectionSpec): number {
  if (spec.bandwidth === null) return UNLIMITED_QUEUE_BYTES;
  const bdp = ((spec.bandwidth / 8) * (spec.delay + 2 * spec.jitter)) / 1000;
  return Math.max(MIN_QUEUE_BYTES, Math.ceil(2 * bdp));
}

/** A stream link's bound: queueBound, and at least MIN_QUEUE_MS of its rate (at most 4 MiB for that). */
export function streamQueueBound(spec: DirectionSpec): number {
  const bound = queueBound(spec);
  if (spec.bandwidth === null) return bound;
  return Math.max(bound, Math.min(UNLIMITED_QUEUE_BYTES, Math.ceil(((spec.bandwidth / 8) * MIN_QUEUE_MS) / 1000)));
}
