// The one source of time and randomness for the engine. Tests of the link math inject their own,
// so they need no real waiting and no luck.
import { performance } from "node:perf_hooks";

/** Milliseconds on a monotonic clock (fractional). */
export type Now = () => number;
/** Uniform random number in [0, 1). */
export type Random = () => number;

export const monotonicNow: Now = () => performance.now();
export const mathRandom: Random = Math.random;
