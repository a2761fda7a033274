// limit {bytes, direction}: after exactly N bytes in that direction (both: each direction
// counts on its own) the connection is closed gracefully (FIN both ways). Truncated responses.
import type { LimitSpec } from "../profiles/types.js";

export type Direction = "up" | "down";

export class ByteLimit {
  private readonly left: Record<Direction, number>;

  constructor(spec: LimitSpec) {
    const n = spec.bytes;
    this.left = {
      up: spec.direction === "down" ? Infinity : n,
      down: spec.direction === "up" ? Infinity : n,
    };
  }

  /** How many of `n` bytes in `dir` may still pass. */
  allow(dir: Direction, n: number): number {
    const left = this.left[dir];
    const pass = n <= left ? n : left;
    this.left[dir] = left - pass;
    return pass;
  }

  /** True once a direction has used its whole allowance. */
  reached(dir: Direction): boolean {
    return this.left[dir] === 0;
  }
}
