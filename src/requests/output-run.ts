// Collects the pieces a protocol forwards in one pass and writes them as few buffers as it can:
// pieces that lie side by side in memory (slices of one received chunk, the usual case) are
// joined back into one slice, so forwarding a parsed chunk costs one write, as a plain relay.
export class OutputRun {
  private parts: Buffer[] = [];
  private bytes = 0;
  /** the last piece grows in place while pieces touch: its buffer, offset and length so far */
  private tail: Buffer | null = null;
  private tailLength = 0;

  get size(): number {
    return this.bytes;
  }

  add(buf: Buffer): void {
    if (buf.length === 0) return;
    this.bytes += buf.length;
    const t = this.tail;
    if (t !== null && t.buffer === buf.buffer && t.byteOffset + this.tailLength === buf.byteOffset) {
      this.tailLength += buf.length;
      return;
    }
    this.closeTail();
    this.tail = buf;
    this.tailLength = buf.length;
  }

  /** Hands every collected buffer to `write`, in order, and empties the run. */
  flush(write: (buf: Buffer) => void): void {
    this.closeTail();
    if (this.parts.length === 0) return;
    const parts = this.parts;
    this.parts = [];
    this.bytes = 0;
    if (parts.length === 1) write(parts[0]!);
    else write(Buffer.concat(parts));
  }

  private closeTail(): void {
    const t = this.tail;
    if (t === null) return;
    this.parts.push(this.tailLength === t.length ? t : Buffer.from(t.buffer, t.byteOffset, this.tailLength));
    this.tail = null;
    this.tailLength = 0;
  }
}
