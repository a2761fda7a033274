// Jitter distributions: each sample is the extra delay of one segment, in ms, with mean `mean`.
//   uniform: [0, 2J]  ·  normal: mean J, standard deviation J/2, clipped at 0  ·  pareto: mean J
import type { JitterDistribution } from "../profiles/types.js";
import type { Random } from "../clock.js";

export type JitterSampler = () => number;

/** Pareto shape used for jitter: heavy-tailed but with a finite mean and variance. */
export const PARETO_SHAPE = 3;

export function jitterSampler(distribution: JitterDistribution, mean: number, random: Random): JitterSampler {
  if (mean <= 0) return () => 0;
  switch (distribution) {
    case "uniform":
      return () => random() * 2 * mean;
    case "normal": {
      const sd = mean / 2;
      return () => Math.max(0, mean + sd * standardNormal(random));
    }
    case "pareto": {
      // Lomax (Pareto type II, support [0, inf)): mean = scale / (shape - 1).
      const scale = mean * (PARETO_SHAPE - 1);
      return () => scale * (Math.pow(1 - random(), -1 / PARETO_SHAPE) - 1);
    }
  }
}

/** A standard normal sample (Box-Muller). */
export function standardNormal(random: Random): number {
  let u = random();
  while (u <= Number.MIN_VALUE) u = random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
