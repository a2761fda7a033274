// A throttled answer's body on its way: bytes go out in slices of about 20 ms each, each when an
// answer sent at `rate` from its first body byte would have got that far. One timer per
// connection; while it holds bytes the exchange reads no further answer (and so no further
// server bytes: memory stays one body piece).

/** ms of body a slice carries */
const SLICE_MS = 20;

export class Pacer {
  private readonly slices: Buffer[] = [];
  private readonly due: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** the answer being paced (its clock starts at its first body byte) */
  private owner: object | null = null;
  private start = 0;
  private sent = 0;
  private stopped = false;

  constructor(
    private readonly write: (bytes: Buffer) => void,
    /** every held byte is out */
    private readonly idle: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** true while bytes wait */
  get busy(): boolean {
    return this.slices.length > 0;
  }

  /** Bytes of `owner`'s body at `rate` bytes a second. */
  add(bytes: Buffer, rate: number, owner: object): void {
    if (this.stopped) return;
    if (this.owner !== owner) {
      this.owner = owner;
      this.start = this.now();
      this.sent = 0;
    }
    const slice = Math.max(1, Math.floor((rate * SLICE_MS) / 1000));
    for (let i = 0; i < bytes.length; i += slice) {
      const part = bytes.subarray(i, Math.min(bytes.length, i + slice));
      this.sent += part.length;
      this.slices.push(part);
      this.due.push(this.start + (this.sent / rate) * 1000);
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.slices.length = 0;
    this.due.length = 0;
  }

  private schedule(): void {
    if (this.timer !== null || this.slices.length === 0) return;
    const wait = Math.max(0, this.due[0]! - this.now());
    this.timer = setTimeout(() => this.tick(), wait);
  }

  private tick(): void {
    this.timer = null;
    if (this.stopped) return;
    const now = this.now();
    while (this.slices.length > 0 && this.due[0]! <= now + 1) {
      this.due.shift();
      this.write(this.slices.shift()!);
    }
    if (this.slices.length > 0) this.schedule();
    else this.idle();
  }
}
