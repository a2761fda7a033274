// slowClose {delay}: a FIN is held back this long before it is passed on.
import type { SlowCloseSpec } from "../profiles/types.js";
import type { Random } from "../clock.js";
import { drawn } from "./trigger.js";

/** ms by which this connection holds back each FIN (0 = none), drawn once per apply. */
export function finDelay(spec: SlowCloseSpec | null, random: Random): number {
  return spec !== null && drawn(spec.probability, random) ? spec.delay : 0;
}
