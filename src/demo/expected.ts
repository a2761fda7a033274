// What the link model says a 64-byte ping's round trip should be, as a median (and a mean):
// drawn from the engine's own jitter samplers and loss models, so a median measured round trip
// is compared with the model's median, not with a sum of means (a heavy-tailed jitter's median
// is well below its mean: pareto's is about half of it).
import type { DirectionSpec, ImpairmentSpec } from "../profiles/types.js";
import { jitterSampler } from "../link/jitter.js";
import { lossModel } from "../link/loss.js";
import { mathRandom, type Random } from "../clock.js";

export interface ExpectedRtt {
  median: number;
  mean: number;
}

/** One direction's delay for a `bytes`-byte segment: sampled per call. */
function oneWay(d: DirectionSpec, bytes: number, random: Random): () => number {
  const jitter = jitterSampler(d.jitterDistribution, d.jitter, random);
  const loss = lossModel(d, random);
  const serialization = d.bandwidth === null || d.bandwidth === 0 ? 0 : (bytes * 8 * 1000) / d.bandwidth;
  return () => d.delay + serialization + jitter() + (loss.lost() ? d.rto : 0);
}

/** The model's round trip of a `bytes`-byte ping (up, then down) over `draws` samples, in ms. */
export function expectedRtt(spec: ImpairmentSpec, bytes = 64, draws = 20_001, random: Random = mathRandom): ExpectedRtt {
  const up = oneWay(spec.up, bytes, random);
  const down = oneWay(spec.down, bytes, random);
  const samples = new Float64Array(draws);
  let sum = 0;
  for (let i = 0; i < draws; i++) {
    samples[i] = up() + down();
    sum += samples[i]!;
  }
  samples.sort();
  return { median: samples[Math.floor(draws / 2)]!, mean: sum / draws };
}
