// Collects the pieces a protocol forwards in one pass and writes them as few buffers as it can:
// pieces that lie side by side in memory (slices of one received chunk, the usual case) are
// joined back into one slice, so forwarding a parsed chunk costs one write, as a plain relay.
export class OutputRun {
  private parts: Buffer[] = [];
  private bytes = 0;

  get size(): number {
    return this.bytes;
  }

  add(buf: Buffer): void {
    if (buf.length === 0) return;
    this.bytes += buf.length;
    const last = this.parts[this.parts.length - 1];
    if (last !== undefined && last.buffer === buf.buffer && last.byteOffset + last.length === buf.byteOffset) {
      this.parts[this.parts.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + buf.length);
    } else this.parts.push(buf);
  }

  /** Hands every collected buffer to `write`, in order, and empties the run. */
  flush(write: (buf: Buffer) => void): void {
    if (this.parts.length === 0) return;
    const parts = this.parts;
    this.parts = [];
    this.bytes = 0;
    if (parts.length === 1) write(parts[0]!);
    else write(Buffer.concat(parts));
  }
}
