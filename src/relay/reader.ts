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
// A chunk handed to the sink is valid only during the call. When it lives in one of the reader's
// own buffers (`borrowed`), a consumer that writes it to a socket without copying passes what
// lend() returns as the write's callback: the buffer goes back to the pool when the write is done,
// and the next read goes into another one. A consumer that keeps the bytes longer (a link's
// queue, issue 27) takes the buffer with keep() and calls what it returns once the last of those
// bytes is written; a chunk that fills less than half its buffer is copied instead (keep() would
// hold 64 KiB for it), so what a queue holds stays within twice the bytes it counts.
//
// A quiet socket reads into one small buffer that all quiet sockets share (reads run one at a
// time on the event loop, and what is read into it is copied out before the callback returns),
// so an idle connection holds no read buffer at all. A read that fills the shared buffer says
// bulk data is coming: the socket switches to its own LARGE_READ buffers from a pool, and back
// to the shared one after a read that does not fill its buffer.

/** Buffer of a socket moving bulk data (Node's own read size). */
export const LARGE_READ = 64 * 1024;
/** The buffer every quiet socket reads into (its bytes are copied out). */
export const SMALL_READ = 4 * 1024;
/** A borrowed chunk at least this long may be kept (queued) in its buffer; a shorter one is copied. */
export const KEEP_MIN = LARGE_READ / 2;
/**
 * Free LARGE buffers kept for reuse across all connections: 32 (2 MiB), plus one for each buffer
 * links held at the most within the last KEEP_MS, so buffers coming back from a queue in bursts
 * are reused rather than dropped and allocated again (each new one is external memory, which
 * V8 counts toward its next mark-compact); trimmed back once the links have held fewer for that
 * long.
 */
const POOL_MAX = 32;
/** How long the pool keeps room for the buffers links held at their most (see POOL_MAX). */
export const KEEP_MS = 2000;

const pool: Buffer[] = [];
const shared = Buffer.allocUnsafeSlow(SMALL_READ);
/** buffers kept by links now (lent with keep(), not yet released) */
let kept = 0;
/** the most buffers links held within the last KEEP_MS (at least `kept`), and since when */
let keptPeak = 0;
let keptPeakAt = 0;
/** trims the pool once the peak is older than KEEP_MS, while the pool is above what is kept now */
let trimTimer: NodeJS.Timeout | null = null;

function takeLarge(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(LARGE_READ);
}

function giveBack(buf: Buffer): void {
  if (buf !== shared && pool.length < POOL_MAX + keptPeak) pool.push(buf);
}

function keepOne(): void {
  if (++kept >= keptPeak) {
    keptPeak = kept;
    keptPeakAt = performance.now();
  }
}

/** A kept buffer came back from its link (null: dropped, not to be reused). */
function giveBackKept(buf: Buffer | null): void {
  kept--;
  if (buf !== null) giveBack(buf);
  if (pool.length > POOL_MAX + kept && trimTimer === null) {
    trimTimer = setTimeout(trim, KEEP_MS);
    trimTimer.unref();
  }
}

/** Lowers the room kept for links' buffers to what they hold now once the peak is KEEP_MS old. */
function trim(): void {
  trimTimer = null;
  const age = performance.now() - keptPeakAt;
  if (age < KEEP_MS) {
    trimTimer = setTimeout(trim, KEEP_MS - age);
    trimTimer.unref();
    return;
  }
  keptPeak = kept;
  keptPeakAt = performance.now();
  while (pool.length > POOL_MAX + kept) pool.pop();
}

/** What `net.Socket`'s `onread` option takes. */
export interface OnReadOption {
  buffer: () => Buffer;
  callback: (bytes: number, buf: Uint8Array) => boolean;
}

export class SocketReader {
  /** pass this as the socket's `onread` option */
  readonly onread: OnReadOption;
  /** the chunk the sink has now is in a buffer of this reader (not a copy of its own) */
  borrowed = false;
  private buf: Buffer = shared;
  private lastRead = 0;
  /** the current buffer is referenced by a pending write */
  private lentNow = false;
  /** buffers lent to writes, oldest first (a socket completes its writes in order) */
  private readonly lent: Buffer[] = [];

  /** `sink` gets each chunk read; it is valid only during the call (see lend()). */
  constructor(private readonly sink: (chunk: Buffer) => void) {
    this.onread = {
      buffer: () => this.next(),
      callback: (bytes, buf) => {
        this.lastRead = bytes;
        const view = (buf as Buffer).subarray(0, bytes);
        this.borrowed = buf !== shared;
        this.sink(this.borrowed ? view : Buffer.from(view));
        this.borrowed = false;
        return true; // the sink pauses the socket itself when it must
      },
    };
  }

  /**
   * The borrowed chunk just handed to the sink is being written without a copy: returns the
   * callback to give that write, which returns the buffer to the pool once the write is done.
   */
  lend(): () => void {
    if (!this.lentNow) {
      this.lentNow = true;
      this.lent.push(this.buf);
    }
    return this.release;
  }

  /**
   * The borrowed chunk just handed to the sink is kept past the call (queued): returns its
   * release, to call once its bytes are written (the buffer then goes back to the pool), or with
   * a truthy `dropped` when they never will be (a write may still hold the buffer: it is left to
   * the collector); null when the chunk fills too little of its buffer to be worth holding: copy
   * it then. As a socket write's callback, a write that failed counts as dropped.
   */
  keep(chunkLength: number): ((dropped?: unknown) => void) | null {
    if (chunkLength < KEEP_MIN) return null;
    const buf = this.buf;
    // the next read goes into another buffer; this one is not in `lent` (writes of it complete
    // in the link's order, not this socket's)
    this.lentNow = true;
    keepOne();
    let held = true;
    return (dropped?: unknown) => {
      if (!held) return;
      held = false;
      giveBackKept(dropped ? null : buf);
    };
  }

  private readonly release = (): void => {
    const buf = this.lent.shift();
    if (buf !== undefined) giveBack(buf);
  };

  /** Called by Node before the first read and after each: the buffer for the next read. */
  private next(): Buffer {
    // (a socket's last buffer is never given back to the pool: a forgotten half-open upstream
    // may still read into it after its connection is done; the collector takes it)
    const cur = this.buf;
    const wantLarge = this.lastRead === cur.length; // it filled its buffer: more is waiting
    this.lastRead = 0;
    if (!this.lentNow && (cur !== shared) === wantLarge) return cur; // keep reading into it
    if (!this.lentNow) giveBack(cur);
    this.lentNow = false;
    this.buf = wantLarge ? takeLarge() : shared;
    return this.buf;
  }
}
