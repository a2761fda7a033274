// A Duplex that stands in for a socket inside the agent: what is fed in is read by the library
// that owns it (node's http2 session), what the library writes goes to a sink. Backpressure both
// ways: feed() says when to pause the source, and a write waits while the sink is full until
// drained() is called.
import { Duplex } from "node:stream";

export interface ByteSink {
  /** false when the far side's buffer is full: the next write waits for drained() */
  write(chunk: Buffer): boolean;
  /** the library ended its side (FIN) */
  end(): void;
}

export class ByteDuplex extends Duplex {
  private waiting: (() => void) | null = null;
  private onWantMore: (() => void) | null = null;
  private sinkEnded = false;

  constructor(private readonly sink: ByteSink) {
    super({ allowHalfOpen: true });
    // the sessions set timeouts and ask for these on a socket; harmless here
    (this as unknown as { setNoDelay: () => void }).setNoDelay = () => {};
    (this as unknown as { setKeepAlive: () => void }).setKeepAlive = () => {};
  }

  /** Bytes from the real peer. False: pause the source until the callback given to onDemand. */
  feed(chunk: Buffer): boolean {
    // once the library let go (its session closed), what still comes is dropped: pausing the
    // source for it would leave the socket unread, its FIN never seen, the connection open forever
    if (this.destroyed || this.readableEnded) return true;
    return this.push(chunk);
  }

  /** The real peer ended its side. */
  feedEnd(): void {
    this.push(null);
  }

  /** Called when the reader wants more after feed() said false. */
  onDemand(fn: () => void): void {
    this.onWantMore = fn;
  }

  /** The sink has room again. */
  drained(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  override _read(): void {
    this.onWantMore?.();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.sink.write(chunk)) cb();
    else this.waiting = () => cb();
  }

  /**
   * What the library writes in one go (node's http2 corks its socket around the frames of one
   * flush: HEADERS, DATA, trailers, WINDOW_UPDATEs) reaches the sink as one buffer, so one socket
   * write and one segment instead of one per frame.
   */
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    const buf = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk));
    this._write(buf, "latin1", cb); // (the encoding of a Buffer is not read)
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.endSink();
    cb();
  }

  private endSink(): void {
    if (this.sinkEnded) return;
    this.sinkEnded = true;
    this.sink.end();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
    // the library let go of its "socket" (a session closing destroys it): the far side ends too
    this.endSink();
    cb(err);
  }
}
