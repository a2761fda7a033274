// MySQL's connection phase when one side only speaks TLS: the TLS side's SSLRequest took sequence
// id 1 there, so every later packet of the phase is numbered one apart on the two sides (a
// plaintext client answers the greeting at 1, a TLS server expects 2 and answers 3). This stage
// sits in front of the request layer and renumbers each packet's sequence id on its way in, both
// directions, until the server ends authentication (OK or ERR); the command phase starts every
// command at 0 on both sides, so from then on bytes pass untouched. Auth switch and more-data
// packets (mysql_native_password, caching_sha2_password, ed25519) are renumbered like any other.
import type { ProtocolStream } from "../../requests/protocol.js";

const OK = 0x00;
const ERR = 0xff;

/** Walks packets across chunk boundaries, rewriting each header's sequence id in place. */
class PacketRenumber {
  /** bytes of the current header seen (0..4) */
  private headerAt = 0;
  private length = 0;
  /** body bytes of the current packet still to come */
  private bodyLeft = 0;
  /** the next body byte is the packet's first */
  private firstByte = false;

  constructor(
    private readonly delta: number,
    /** the first body byte of each packet (only asked while the phase lasts) */
    private readonly onFirstByte: ((b: number) => void) | null,
  ) {}

  /** Rewrites `chunk` in place (the request layer owns it). */
  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft > 0) {
        if (this.firstByte) {
          this.firstByte = false;
          this.onFirstByte?.(chunk[i]!);
        }
        const n = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= n;
        i += n;
        continue;
      }
      const b = chunk[i]!;
      if (this.headerAt < 3) this.length |= b << (8 * this.headerAt);
      else {
        chunk[i] = (b + this.delta + 256) & 0xff;
        this.bodyLeft = this.length;
        this.firstByte = this.length > 0;
        this.length = 0;
      }
      this.headerAt = (this.headerAt + 1) & 3;
      i++;
    }
  }
}

/**
 * The stage for a connection whose server numbers the connection phase `delta` ahead of its
 * client (+1: plaintext client, TLS server; -1: TLS client, plaintext server).
 */
export function renumberConnectionPhase(delta: number): (inner: ProtocolStream) => ProtocolStream {
  return (inner) => {
    let phase = true;
    let ending = false;
    const up = new PacketRenumber(delta, null);
    const down = new PacketRenumber(-delta, (b) => {
      // the OK that ends authentication (or the ERR that refuses it): the command phase follows
      if (b === OK || b === ERR) ending = true;
    });
    const stage: ProtocolStream = {
      fromClient(chunk) {
        // a client sends nothing of the command phase before it has the server's OK
        if (phase) up.feed(chunk);
        return inner.fromClient(chunk);
      },
      fromUpstream(chunk) {
        if (!phase) return inner.fromUpstream(chunk);
        down.feed(chunk);
        // the OK's own header was renumbered; nothing after it can be of the phase (the server
        // waits for a command, which starts afresh at 0)
        if (ending) phase = false;
        return inner.fromUpstream(chunk);
      },
      close: () => inner.close(),
      ...(inner.owns !== undefined ? { owns: inner.owns } : {}),
    };
    return stage;
  };
}
