// Piece sizes of a slice with a size variation, as Toxiproxy's slicer cuts them
// (toxics/slicer.go): a chunk no more than `variation` bytes over `average` is one piece; a
// longer one is split about its middle, the cut moved by a uniform offset in
// [-variation, variation), and both halves are cut again the same way. So pieces vary evenly
// around the average (no small piece at the end), within average + variation. Where Toxiproxy's
// cut can land outside the chunk (a variation above half of it), the cut is kept inside, so no
// piece is ever empty.
import type { Random } from "../clock.js";

/** Appends the sizes of the pieces of a `length`-byte chunk to `out` (in order); returns `out`. */
export function slicePieces(length: number, average: number, variation: number, random: Random, out: number[] = []): number[] {
  cut(0, length, average, variation, random, out);
  return out;
}

function cut(start: number, end: number, average: number, variation: number, random: Random, out: number[]): void {
  const size = end - start;
  if (size - average <= variation || size < 2) {
    if (size > 0) out.push(size);
    return;
  }
  const offset = Math.floor(random() * variation * 2) - variation;
  const mid = Math.min(end - 1, Math.max(start + 1, start + Math.floor(size / 2) + offset));
  cut(start, mid, average, variation, random, out);
  cut(mid, end, average, variation, random, out);
}
