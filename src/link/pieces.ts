// A link's queue of scheduled pieces, without an object per piece (issue 27): a piece is a range
// [off, off + len) of the chunk it was read in, with its times, kept in a ring of parallel
// arrays. The pieces of one chunk share its Buffer; a view of a piece is made only when it is
// written (and then dies young), so a queue held for a while (a slow link holds half a second of
// pieces) gives the collector nothing to promote.

/** Called once the bytes of a pushed chunk have all been written; `dropped` when they never will be. */
export type Release = (dropped?: unknown) => void;

// the numbers of a piece, STRIDE per slot
const OFF = 0;
const LEN = 1;
const ARRIVAL = 2;
const RELEASE = 3;
const FIRST = 4;
const STRIDE = 5;
/** A ring larger than this is dropped once empty. */
const KEEP_CAP = 256;

export class PieceQueue {
  private cap = 16;
  private head = 0;
  private n = 0;
  private bufs: (Buffer | null)[] = new Array<Buffer | null>(16).fill(null);
  private dones: (Release | null)[] = new Array<Release | null>(16).fill(null);
  private nums = new Float64Array(16 * STRIDE);

  get length(): number {
    return this.n;
  }

  /** Slot of the i-th piece from the head. */
  private slot(i: number): number {
    return (this.head + i) & (this.cap - 1);
  }

  /**
   * Appends a piece: `len` bytes at `off` of `buf`; `done` the release of the chunk it ends, if
   * any; `first` the release of the first segment merged into it.
   */
  push(buf: Buffer, off: number, len: number, done: Release | null, arrival: number, release: number, first: number): void {
    if (this.n === this.cap) this.grow();
    const s = this.slot(this.n++);
    this.bufs[s] = buf;
    this.dones[s] = done;
    const k = s * STRIDE;
    const nums = this.nums;
    nums[k + OFF] = off;
    nums[k + LEN] = len;
    nums[k + ARRIVAL] = arrival;
    nums[k + RELEASE] = release;
    nums[k + FIRST] = first;
  }

  buf(i: number): Buffer {
    return this.bufs[this.slot(i)]!;
  }
  done(i: number): Release | null {
    return this.dones[this.slot(i)]!;
  }
  off(i: number): number {
    return this.nums[this.slot(i) * STRIDE + OFF]!;
  }
  len(i: number): number {
    return this.nums[this.slot(i) * STRIDE + LEN]!;
  }
  arrival(i: number): number {
    return this.nums[this.slot(i) * STRIDE + ARRIVAL]!;
  }
  release(i: number): number {
    return this.nums[this.slot(i) * STRIDE + RELEASE]!;
  }
  first(i: number): number {
    return this.nums[this.slot(i) * STRIDE + FIRST]!;
  }

  /** The bytes of the i-th piece as one view (the chunk itself when the piece is all of it). */
  view(i: number): Buffer {
    const buf = this.buf(i);
    const off = this.off(i);
    const len = this.len(i);
    return off === 0 && len === buf.length ? buf : buf.subarray(off, off + len);
  }

  /** Grows the last piece by `len` bytes that follow it in its buffer, now released at `release`. */
  extendLast(len: number, release: number, done: Release | null): void {
    const s = this.slot(this.n - 1);
    this.nums[s * STRIDE + LEN] += len;
    this.nums[s * STRIDE + RELEASE] = release;
    this.dones[s] = done;
  }

  /** Drops the head piece (its buffer reference goes with it). */
  shift(): void {
    const s = this.head;
    this.bufs[s] = null;
    this.dones[s] = null;
    this.head = (s + 1) & (this.cap - 1);
    if (--this.n === 0 && this.cap > KEEP_CAP) this.reset();
  }

  /** Keeps the first `count` pieces, drops the rest. */
  truncate(count: number): void {
    while (this.n > count) {
      const s = this.slot(--this.n);
      this.bufs[s] = null;
      this.dones[s] = null;
    }
    if (this.n === 0 && this.cap > KEEP_CAP) this.reset();
  }

  /** Back to a small ring (an emptied queue does not keep what a burst grew it to). */
  private reset(): void {
    this.cap = 16;
    this.head = 0;
    this.bufs = new Array<Buffer | null>(16).fill(null);
    this.dones = new Array<Release | null>(16).fill(null);
    this.nums = new Float64Array(16 * STRIDE);
  }

  private grow(): void {
    const cap = this.cap * 2;
    const bufs = new Array<Buffer | null>(cap).fill(null);
    const dones = new Array<Release | null>(cap).fill(null);
    const nums = new Float64Array(cap * STRIDE);
    for (let i = 0; i < this.n; i++) {
      const s = this.slot(i);
      bufs[i] = this.bufs[s]!;
      dones[i] = this.dones[s]!;
      nums.set(this.nums.subarray(s * STRIDE, s * STRIDE + STRIDE), i * STRIDE);
    }
    this.bufs = bufs;
    this.dones = dones;
    this.nums = nums;
    this.cap = cap;
    this.head = 0;
  }
}
