// A request's identity for the client verdicts (SPEC "Verdicts on the client"): what makes two
// attempts the same request, as a short hash (the raw request is never kept). Built only while
// someone watches every request (topic requests, requests: "all").
import { createHash, type Hash } from "node:crypto";

/** Hex characters of an identity (48 bits: collisions within one client's 30 s window are negligible). */
const LENGTH = 12;

/** Hashes parts fed in order (each delimited, so ["ab","c"] and ["a","bc"] differ). */
export class IdentityHash {
  private readonly h: Hash = createHash("sha1");

  constructor(...parts: string[]) {
    for (const p of parts) this.part(p);
  }

  /** A delimited text part (a method, a path, an argument). */
  part(text: string | Buffer): this {
    const b = typeof text === "string" ? Buffer.from(text) : text;
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.length);
    this.h.update(len);
    this.h.update(b);
    return this;
  }

  /** Raw bytes appended to the stream (a body, as its chunks come). */
  update(bytes: Buffer): this {
    this.h.update(bytes);
    return this;
  }

  digest(): string {
    return this.h.digest("hex").slice(0, LENGTH);
  }
}

/** The identity of a request given whole: its parts in order. */
export function identityOf(...parts: (string | Buffer)[]): string {
  const h = new IdentityHash();
  for (const p of parts) h.part(p);
  return h.digest();
}
