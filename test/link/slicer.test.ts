// Piece sizes of a varied slice, as Toxiproxy's slicer cuts them (src/link/slicer.ts): they add up
// to the chunk, none is empty or above average + variation, they vary, and they centre on the
// cut Toxiproxy makes (halving around the middle), with no small piece left at the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { slicePieces } from "../../src/link/slicer.js";
import { seededRandom } from "../support/random.js";

test("a 64 KiB chunk with average 1000, variation 1000: pieces sum to it, each 1..2000 bytes, varied, mean near 64 KiB / 2^6", () => {
  const random = seededRandom(7);
  const all: number[] = [];
  for (let round = 0; round < 200; round++) {
    const pieces = slicePieces(65_536, 1000, 1000, random);
    assert.equal(pieces.reduce((a, b) => a + b, 0), 65_536);
    for (const p of pieces) assert.ok(p >= 1 && p <= 2000, `piece of ${p} bytes`);
    all.push(...pieces);
  }
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  // halving 65536 until a piece is <= 2000 gives 32 pieces of ~2048 or 64 of ~1024: the mean sits between
  assert.ok(mean > 900 && mean < 2000, `mean piece ${mean.toFixed(0)} bytes`);
  assert.ok(new Set(all).size > 200, `${new Set(all).size} distinct sizes`);
});

test("a chunk within average + variation is one piece; variation 0 is never asked of it", () => {
  const random = seededRandom(1);
  assert.deepEqual(slicePieces(1500, 1000, 500, random), [1500]);
  assert.deepEqual(slicePieces(700, 1000, 1000, random), [700]);
  assert.deepEqual(slicePieces(1, 1, 5, random), [1]);
});

test("a variation above half the chunk keeps every cut inside it: no empty piece", () => {
  const random = seededRandom(3);
  for (let n = 2; n < 500; n++) {
    const pieces = slicePieces(n, 1, 1000, random);
    assert.equal(pieces.reduce((a, b) => a + b, 0), n);
    assert.ok(pieces.every((p) => p >= 1));
  }
});
