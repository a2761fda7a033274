// What every benchmark gets: where to put results, and whether this is the short pass.
import type { Results } from "./report.js";

export interface BenchContext {
  results: Results;
  /** a short pass: fewer rounds, shorter windows, smaller counts */
  quick: boolean;
  /** a busy loop per core runs beside (`--load`): fidelity under CPU contention */
  load: boolean;
  /** `--rounds N`: rounds for the benchmarks that interleave rounds (shaped), else their default */
  rounds?: number;
}

export type Benchmark = (ctx: BenchContext) => Promise<void>;
