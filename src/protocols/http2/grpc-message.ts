// gRPC's length-prefixed messages (PROTOCOL-HTTP2.md: a compressed flag, a 4-byte length, the
// bytes) in a stream of DATA: where they begin and end, and how one is framed.
/** A message's 5-byte prefix and the message: uncompressed. */
export function framed(bytes: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/** Finds gRPC message boundaries in a stream of DATA bytes. */
export class MessageReader {
  /** complete messages seen */
  count = 0;
  private readonly header = Buffer.alloc(5);
  private headerLeft = 5;
  private inBody = false;
  private bodyLeft = 0;

  /**
   * Walks `chunk`: `part(from, to, starts, ends)` for each run of one message's bytes (prefix
   * included); `starts` on the run holding its first byte, `ends` on the one holding its last.
   */
  read(chunk: Buffer, part: (from: number, to: number, starts: boolean, ends: boolean) => void): void {
    let i = 0;
    while (i < chunk.length) {
      const from = i;
      const starts = !this.inBody && this.headerLeft === 5;
      if (!this.inBody) {
        while (this.headerLeft > 0 && i < chunk.length) this.header[5 - this.headerLeft--] = chunk[i++]!;
        if (this.headerLeft > 0) {
          part(from, i, starts, false);
          return;
        }
        this.bodyLeft = this.header.readUInt32BE(1);
        this.inBody = true;
      }
      const n = Math.min(chunk.length - i, this.bodyLeft);
      i += n;
      this.bodyLeft -= n;
      const ends = this.bodyLeft === 0;
      if (ends) {
        this.count++;
        this.headerLeft = 5;
        this.inBody = false;
      }
      part(from, i, starts, ends);
    }
  }
}
