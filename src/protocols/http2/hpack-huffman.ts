// HPACK's Huffman code (RFC 7541 Appendix B): the code of each symbol 0..255 and EOS (256), with
// its length in bits, and a decoder (a binary tree walked a bit at a time; header blocks are small
// and, after a connection's first calls, mostly indexed fields).

/** The codes, hexadecimal, in symbol order (RFC 7541 Appendix B). */
const CODES = (
  "1ff8 7fffd8 fffffe2 fffffe3 fffffe4 fffffe5 fffffe6 fffffe7 fffffe8 ffffea 3ffffffc fffffe9 fffffea 3ffffffd fffffeb fffffec " +
  "fffffed fffffee fffffef ffffff0 ffffff1 ffffff2 3ffffffe ffffff3 ffffff4 ffffff5 ffffff6 ffffff7 ffffff8 ffffff9 ffffffa ffffffb " +
  "14 3f8 3f9 ffa 1ff9 15 f8 7fa 3fa 3fb f9 7fb fa 16 17 18 " +
  "0 1 2 19 1a 1b 1c 1d 1e 1f 5c fb 7ffc 20 ffb 3fc " +
  "1ffa 21 5d 5e 5f 60 61 62 63 64 65 66 67 68 69 6a " +
  "6b 6c 6d 6e 6f 70 71 72 fc 73 fd 1ffb 7fff0 1ffc 3ffc 22 " +
  "7ffd 3 23 4 24 5 25 26 27 6 74 75 28 29 2a 7 " +
  "2b 76 2c 8 9 2d 77 78 79 7a 7b 7ffe 7fc 3ffd 1ffd ffffffc " +
  "fffe6 3fffd2 fffe7 fffe8 3fffd3 3fffd4 3fffd5 7fffd9 3fffd6 7fffda 7fffdb 7fffdc 7fffdd 7fffde ffffeb 7fffdf " +
  "ffffec ffffed 3fffd7 7fffe0 ffffee 7fffe1 7fffe2 7fffe3 7fffe4 1fffdc 3fffd8 7fffe5 3fffd9 7fffe6 7fffe7 ffffef " +
  "3fffda 1fffdd fffe9 3fffdb 3fffdc 7fffe8 7fffe9 1fffde 7fffea 3fffdd 3fffde fffff0 1fffdf 3fffdf 7fffeb 7fffec " +
  "1fffe0 1fffe1 3fffe0 1fffe2 7fffed 3fffe1 7fffee 7fffef fffea 3fffe2 3fffe3 3fffe4 7ffff0 3fffe5 3fffe6 7ffff1 " +
  "3ffffe0 3ffffe1 fffeb 7fff1 3fffe7 7ffff2 3fffe8 1ffffec 3ffffe2 3ffffe3 3ffffe4 7ffffde 7ffffdf 3ffffe5 fffff1 1ffffed " +
  "7fff2 1fffe3 3ffffe6 7ffffe0 7ffffe1 3ffffe7 7ffffe2 fffff2 1fffe4 1fffe5 3ffffe8 3ffffe9 ffffffd 7ffffe3 7ffffe4 7ffffe5 " +
  "fffec fffff3 fffed 1fffe6 3fffe9 1fffe7 1fffe8 7ffff3 3fffea 3fffeb 1ffffee 1ffffef fffff4 fffff5 3ffffea 7ffff4 " +
  "3ffffeb 7ffffe6 3ffffec 3ffffed 7ffffe7 7ffffe8 7ffffe9 7ffffea 7ffffeb ffffffe 7ffffec 7ffffed 7ffffee 7ffffef 7fffff0 3ffffee " +
  "3fffffff " +
  ""
)
  .trim()
  .split(" ")
  .map((h) => parseInt(h, 16));

/** Their lengths in bits. */
const LENGTHS = (
  "13 23 28 28 28 28 28 28 28 24 30 28 28 30 28 28 28 28 28 28 28 28 30 28 28 28 28 28 28 28 28 28 " +
  "6 10 10 12 13 6 8 11 10 10 8 11 8 6 6 6 5 5 5 6 6 6 6 6 6 6 7 8 15 6 12 10 " +
  "13 6 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 8 7 8 13 19 13 14 6 " +
  "15 5 6 5 6 5 6 6 6 5 7 7 6 6 6 5 6 7 6 5 5 6 7 7 7 7 7 15 11 14 13 28 " +
  "20 22 20 20 22 22 22 23 22 23 23 23 23 23 24 23 24 24 22 23 24 23 23 23 23 21 22 23 22 23 23 24 " +
  "22 21 20 22 22 23 23 21 23 22 22 24 21 22 23 23 21 21 22 21 23 22 23 23 20 22 22 22 23 22 22 23 " +
  "26 26 20 19 22 23 22 25 26 26 26 27 27 26 24 25 19 21 26 27 27 26 27 24 21 21 26 26 28 27 27 27 " +
  "20 24 20 21 22 21 21 23 22 22 25 25 24 24 26 23 26 27 26 26 27 27 27 27 27 28 27 27 27 27 27 26 " +
  "30 " +
  ""
)
  .trim()
  .split(" ")
  .map(Number);

export const EOS = 256;

/** The tree: node n's children at 2n (bit 0) and 2n+1 (bit 1); a leaf holds -(symbol + 1). */
let tree: Int32Array | null = null;

function buildTree(): Int32Array {
  // 257 leaves: 256 inner nodes
  const t = new Int32Array(2 * 257);
  let next = 1; // node 0 is the root
  for (let sym = 0; sym <= EOS; sym++) {
    const code = CODES[sym]!;
    const len = LENGTHS[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (i === 0) t[slot] = -(sym + 1);
      else {
        if (t[slot] === 0) t[slot] = next++;
        node = t[slot]!;
      }
    }
  }
  return t;
}

export class HuffmanError extends Error {}

/**
 * Decodes `buf[from..to)` (latin1 text). Padding must be at most 7 bits, all ones (a prefix of
 * EOS); EOS itself in the data is an error (RFC 7541 5.2).
 */
export function decodeHuffman(buf: Buffer, from: number, to: number): string {
  const t = (tree ??= buildTree());
  const out = Buffer.allocUnsafe(Math.ceil(((to - from) * 8) / 5));
  let n = 0;
  let node = 0;
  let depth = 0; // bits since the last symbol
  let ones = true; // those bits all ones
  for (let i = from; i < to; i++) {
    const byte = buf[i]!;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >>> b) & 1;
      const v = t[2 * node + bit]!;
      depth++;
      if (bit === 0) ones = false;
      if (v < 0) {
        const sym = -v - 1;
        if (sym === EOS) throw new HuffmanError("EOS in a Huffman string");
        out[n++] = sym;
        node = 0;
        depth = 0;
        ones = true;
      } else node = v;
    }
  }
  if (depth > 7 || !ones) throw new HuffmanError("bad Huffman padding");
  return out.toString("latin1", 0, n);
}

/** `text` Huffman-coded, padded with ones (for tests: a peer's encoding). */
export function encodeHuffman(text: string): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const sym of Buffer.from(text, "latin1")) {
    const code = CODES[sym]!;
    for (let i = LENGTHS[sym]! - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >>> i) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(out);
}
