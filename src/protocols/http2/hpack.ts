// HPACK (RFC 7541) as the splice needs it: a decoder that mirrors one sender's encoder (static
// table, dynamic table with its size updates and evictions, Huffman strings), so every header
// block is read and the table stays as the receiving peer's; and an encoder that writes only
// literal fields without indexing, so what the agent writes moves no peer's dynamic table.
import { decodeHuffman, HuffmanError } from "./hpack-huffman.js";

export type HeaderField = [name: string, value: string];

/** RFC 7541 Appendix A. */
const STATIC: readonly HeaderField[] = [
  [":authority", ""], [":method", "GET"], [":method", "POST"], [":path", "/"], [":path", "/index.html"],
  [":scheme", "http"], [":scheme", "https"], [":status", "200"], [":status", "204"], [":status", "206"],
  [":status", "304"], [":status", "400"], [":status", "404"], [":status", "500"], ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"], ["accept-language", ""], ["accept-ranges", ""], ["accept", ""],
  ["access-control-allow-origin", ""], ["age", ""], ["allow", ""], ["authorization", ""], ["cache-control", ""],
  ["content-disposition", ""], ["content-encoding", ""], ["content-language", ""], ["content-length", ""],
  ["content-location", ""], ["content-range", ""], ["content-type", ""], ["cookie", ""], ["date", ""], ["etag", ""],
  ["expect", ""], ["expires", ""], ["from", ""], ["host", ""], ["if-match", ""], ["if-modified-since", ""],
  ["if-none-match", ""], ["if-range", ""], ["if-unmodified-since", ""], ["last-modified", ""], ["link", ""],
  ["location", ""], ["max-forwards", ""], ["proxy-authenticate", ""], ["proxy-authorization", ""], ["range", ""],
  ["referer", ""], ["refresh", ""], ["retry-after", ""], ["server", ""], ["set-cookie", ""],
  ["strict-transport-security", ""], ["transfer-encoding", ""], ["user-agent", ""], ["vary", ""], ["via", ""],
  ["www-authenticate", ""],
];

/** name -> its first static index (1-based) */
const STATIC_NAME = new Map<string, number>();
STATIC.forEach(([name], i) => {
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
});

export class HpackError extends Error {}

/** The entry overhead of RFC 7541 4.1. */
const ENTRY_OVERHEAD = 32;

export interface DecodedBlock {
  fields: HeaderField[];
  /** the block inserted entries or updated the table size: a peer that never sees it falls out of step */
  changed: boolean;
}

export class HpackDecoder {
  /** newest first */
  private entries: HeaderField[] = [];
  private size = 0;
  /** the table size the encoder chose (a size update), at most `allowed` */
  private capacity = 4096;

  /**
   * @param allowed the largest table the receiving peer allows (its SETTINGS_HEADER_TABLE_SIZE;
   *   4096 until it says otherwise)
   * @param maxListBytes bound on a block's decoded size (names, values, 32 per field)
   */
  constructor(
    private allowed = 4096,
    private readonly maxListBytes = 256 * 1024,
  ) {}

  /** The receiver advertised a table size: updates up to it are allowed (the largest seen, for the ack's race). */
  allow(size: number): void {
    this.allowed = Math.max(this.allowed, size);
  }

  get tableSize(): number {
    return this.size;
  }

  decode(block: Buffer): DecodedBlock {
    const fields: HeaderField[] = [];
    let changed = false;
    let listBytes = 0;
    let i = 0;
    let fieldsSeen = false;
    const len = block.length;
    const int = (prefixBits: number): number => {
      if (i >= len) throw new HpackError("truncated integer");
      const mask = (1 << prefixBits) - 1;
      let v = block[i++]! & mask;
      if (v < mask) return v;
      let m = 0;
      for (;;) {
        if (i >= len) throw new HpackError("truncated integer");
        const b = block[i++]!;
        v += (b & 0x7f) * 2 ** m;
        m += 7;
        if ((b & 0x80) === 0) break;
        if (m > 28) throw new HpackError("integer too large");
      }
      return v;
    };
    const str = (): string => {
      if (i >= len) throw new HpackError("truncated string");
      const huff = (block[i]! & 0x80) !== 0;
      const n = int(7);
      if (n > len - i) throw new HpackError("truncated string");
      const from = i;
      i += n;
      if (!huff) return block.toString("latin1", from, i);
      try {
        return decodeHuffman(block, from, i);
      } catch (e) {
        throw new HpackError(e instanceof HuffmanError ? e.message : "bad Huffman string");
      }
    };
    const at = (index: number): HeaderField => {
      if (index === 0) throw new HpackError("index 0");
      if (index <= STATIC.length) return STATIC[index - 1]!;
      const e = this.entries[index - STATIC.length - 1];
      if (e === undefined) throw new HpackError(`index ${index} beyond the table`);
      return e;
    };
    const emit = (f: HeaderField): void => {
      listBytes += f[0].length + f[1].length + ENTRY_OVERHEAD;
      if (listBytes > this.maxListBytes) throw new HpackError("header list too large");
      fields.push(f);
    };
    while (i < len) {
      const b = block[i]!;
      if ((b & 0x80) !== 0) {
        fieldsSeen = true;
        emit(at(int(7)));
      } else if ((b & 0x40) !== 0) {
        fieldsSeen = true;
        const index = int(6);
        const name = index === 0 ? str() : at(index)[0];
        const f: HeaderField = [name, str()];
        emit(f);
        this.insert(f);
        changed = true;
      } else if ((b & 0x20) !== 0) {
        // a dynamic table size update: only at the block's start (RFC 7541 4.2)
        if (fieldsSeen) throw new HpackError("table size update after a field");
        const size = int(5);
        if (size > this.allowed) throw new HpackError(`table size ${size} over the allowed ${this.allowed}`);
        this.capacity = size;
        this.evict(0);
        changed = true;
      } else {
        // literal without indexing (0000) or never indexed (0001): 4-bit prefix
        fieldsSeen = true;
        const index = int(4);
        const name = index === 0 ? str() : at(index)[0];
        emit([name, str()]);
      }
    }
    return { fields, changed };
  }

  private insert(f: HeaderField): void {
    const size = f[0].length + f[1].length + ENTRY_OVERHEAD;
    if (size > this.capacity) {
      // an entry larger than the table empties it (RFC 7541 4.4)
      this.entries = [];
      this.size = 0;
      return;
    }
    this.evict(size);
    this.entries.unshift(f);
    this.size += size;
  }

  /** Evicts the oldest entries until `room` more fits. */
  private evict(room: number): void {
    while (this.size + room > this.capacity && this.entries.length > 0) {
      const e = this.entries.pop()!;
      this.size -= e[0].length + e[1].length + ENTRY_OVERHEAD;
    }
  }
}

function writeInt(out: number[], first: number, prefixBits: number, v: number): void {
  const max = (1 << prefixBits) - 1;
  if (v < max) {
    out.push(first | v);
    return;
  }
  out.push(first | max);
  v -= max;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function writeStr(out: number[], s: string): void {
  const bytes = Buffer.from(s, "latin1");
  writeInt(out, 0, 7, bytes.length);
  for (const b of bytes) out.push(b);
}

/**
 * A header block of literal fields without indexing (RFC 7541 6.2.2): the name by its static
 * index when it has one, nothing Huffman-coded. The receiving peer's dynamic table does not move.
 */
export function encodeLiteral(fields: readonly HeaderField[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const index = STATIC_NAME.get(name);
    if (index !== undefined) writeInt(out, 0x00, 4, index);
    else {
      out.push(0x00);
      writeStr(out, name);
    }
    writeStr(out, value);
  }
  return Buffer.from(out);
}
