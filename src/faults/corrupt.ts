// corrupt {probability}: each byte has one bit flipped with the given probability. Opt-in only.
// Positions are drawn with geometric gaps, so the cost is per flip, not per byte.
import type { Random } from "../clock.js";

/** Flips bits in place; returns how many bytes were changed. */
export function corruptInPlace(buf: Buffer, probability: number, random: Random): number {
  if (probability <= 0 || buf.length === 0) return 0;
  if (probability >= 1) {
    for (let i = 0; i < buf.length; i++) buf[i] = buf[i]! ^ (1 << Math.floor(random() * 8));
    return buf.length;
  }
  const logQ = Math.log(1 - probability);
  let flips = 0;
  let i = Math.floor(Math.log(1 - random()) / logQ);
  while (i < buf.length) {
    buf[i] = buf[i]! ^ (1 << Math.floor(random() * 8));
    flips++;
    i += 1 + Math.floor(Math.log(1 - random()) / logQ);
  }
  return flips;
}
