// Reading a relayed socket into reusable buffers (net.Socket's `onread` option) instead of the
// fresh ArrayBuffer Node's stream reads allocate for every read.
//
// Why (issue 12): each fresh read buffer is V8 "external memory". V8 frees those only at the next
// scavenge (it forces one per 32 MB of them) and counts external memory allocated since the last
// mark-compact against the old-generation limit. Once the JS heap is above V8's 8 MB incremental
// marking threshold (the CLI agent's is: commander, yaml, ws, pino, prom-client, the commands),
// a bulk transfer reaches that limit every few tens of milliseconds: a Mark-Compact each time,
// 36-80 of them in 3 s of iperf3, and twice the bare relay's CPU per byte. A relay that reads
// into buffers it reuses allocates no external memory per read, so none of that happens, whatever
// the heap size; it also skips the allocation itself, which makes it cheaper than `pipe`.
//
// A chunk handed to the sink lives in the reader's buffer and is valid only during the call. A
// consumer that writes it to a socket without copying calls lend() and passes what it returns as
// the write's callback: the buffer goes back to the pool when the write is done, and the next read
// goes into another one. Anything that keeps bytes longer (a link's queue) copies them.
//
// Idle connections hold a small buffer per direction (SMALL_READ); a read that fills it switches
// the socket to LARGE_READ pooled buffers, and a read that does not fill its buffer switches it
// back, so memory per idle connection stays small and bulk transfers read 64 KiB at a time.

/** Buffer of a socket moving bulk data (Node's own read size). */
export const LARGE_READ = 64 * 1024;
/** Buffer of an idle or interactive socket. */
export const SMALL_READ = 2 * 1024;
/** Free LARGE buffers kept for reuse across all connections (2 MiB). */
const POOL_MAX = 32;

const pool: Buffer[] = [];

function takeLarge(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(LARGE_READ);
}

function giveBack(buf: Buffer): void {
  if (buf.length === LARGE_READ && pool.length < POOL_MAX) pool.push(buf);
}

/** What `net.Socket`'s `onread` option takes. */
export interface OnReadOption {
  buffer: () => Buffer;
  callback: (bytes: number, buf: Uint8Array) => boolean;
}

export class SocketReader {
  /** pass this as the socket's `onread` option */
  readonly onread: OnReadOption;
  private buf: Buffer | null = null;
  /** the SMALL buffer while a LARGE one is in use */
  private small: Buffer | null = null;
  private lastRead = 0;
  /** the current buffer is referenced by a pending write */
  private lentNow = false;
  /** buffers lent to writes, oldest first (a socket completes its writes in order) */
  private readonly lent: Buffer[] = [];
  private closed = false;

  /** `sink` gets each chunk read; it is valid only during the call (see lend()). */
  constructor(private readonly sink: (chunk: Buffer) => void) {
    this.onread = {
      buffer: () => this.next(),
      callback: (bytes, buf) => {
        this.lastRead = bytes;
        this.sink((buf as Buffer).subarray(0, bytes));
        return true; // the sink pauses the socket itself when it must
      },
    };
  }

  /**
   * The chunk just handed to the sink is being written without a copy: returns the callback to
   * give that write, which returns the buffer to the pool once the write is done.
   */
  lend(): () => void {
    if (this.buf !== null && !this.lentNow) {
      this.lentNow = true;
      this.lent.push(this.buf);
    }
    return this.release;
  }

  /**
   * The socket is closed (no more reads): its buffer goes back to the pool (a lent one returns
   * when its write ends).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.buf !== null && !this.lentNow) giveBack(this.buf);
  }

  private readonly release = (): void => {
    const buf = this.lent.shift();
    if (buf !== undefined) giveBack(buf);
  };

  /**
   * Called by Node before the first read and after each: the buffer for the next read. A read
   * that filled its buffer says more is waiting: the next goes into a LARGE one. Any other read
   * emptied the socket for now: the next goes into the SMALL one, so a connection that goes
   * quiet (after a burst too) holds SMALL_READ bytes, not 64 KiB.
   */
  private next(): Buffer {
    const cur = this.buf;
    if (cur !== null && this.closed) return cur; // no more reads come
    const wantLarge = cur !== null && this.lastRead === cur.length;
    if (cur !== null && !this.lentNow) {
      if ((cur.length === LARGE_READ) === wantLarge) return cur; // keep reading into it
      if (cur.length === LARGE_READ) giveBack(cur);
      else this.small = cur;
    }
    this.lentNow = false;
    if (wantLarge) {
      this.buf = takeLarge();
    } else {
      // the small buffer is ours; one lent to a write is left to it, and a new one made
      this.buf = this.small ?? Buffer.allocUnsafe(SMALL_READ);
      this.small = null;
    }
    return this.buf;
  }
}
