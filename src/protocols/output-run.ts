// Collects the pieces a protocol forwards in one pass and writes them as few buffers as it can:
// pieces that lie side by side in memory (slices of one received chunk, the usual case) are
// joined back into one slice, so forwarding a parsed chunk costs one write, as a plain relay.
export class OutputRun {
  private parts: Buffer[] = [];
  private bytes = 0;
  /** the last run of adjacent pieces, not yet a Buffer of its own: its first piece and length */
  private tail: Buffer | null = null;
  private tailLength = 0;

  get size(): number {
    return this.bytes;
  }

  add(buf: Buffer): void {
    if (buf.length === 0) return;
    this.bytes += buf.length;
    const tail = this.tail;
    if (tail !== null && tail.buffer === buf.buffer && tail.byteOffset + this.tailLength === buf.byteOffset) {
      this.tailLength += buf.length;
      return;
    }
    if (tail !== null) this.parts.push(this.tailBuffer());
    this.tail = buf;
    this.tailLength = buf.length;
  }

  /** Hands every collected buffer to `write`, in order, and empties the run. */
  flush(write: (buf: Buffer) => void): void {
    if (this.tail === null) return;
    const last = this.tailBuffer();
    this.tail = null;
    this.tailLength = 0;
    this.bytes = 0;
    if (this.parts.length === 0) {
      write(last);
      return;
    }
    const parts = this.parts;
    this.parts = [];
    parts.push(last);
    write(Buffer.concat(parts));
  }

  private tailBuffer(): Buffer {
    const t = this.tail!;
    return this.tailLength === t.length ? t : Buffer.from(t.buffer, t.byteOffset, this.tailLength);
  }
}
