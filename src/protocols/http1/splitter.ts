// Splits one direction of an HTTP/1.x connection into messages: a head, its body's bytes, its
// end; then the next message (keep-alive, pipelining). Pull-based: bytes are pushed in as they
// arrive and taken out piece by piece with next(), so a caller can stop between pieces (hold a
// request, wait for the answer to an upgrade) and the bytes not taken stay here, in order.
// Every piece carries the exact bytes it was read from: forwarding them all forwards the stream
// unchanged.
import { findHeadEnd, leadingEmptyLines, MAX_HEAD_BYTES } from "./head.js";
import { BodyReader, type BodyFraming } from "./body.js";

export type Piece<H> =
  | { kind: "head"; head: H; bytes: Buffer }
  | { kind: "body"; bytes: Buffer }
  /** the message is complete (no bytes of its own) */
  | { kind: "end" }
  /** bytes that are not (or no longer) HTTP: after an upgrade, or from a malformed message on */
  | { kind: "raw"; bytes: Buffer }
  /** the stream could not be parsed from here on; every later byte comes as "raw" */
  | { kind: "invalid"; reason: string };

export interface MessageGrammar<H> {
  /** parses a complete head; a string says what is wrong */
  parse(head: Buffer): H | string;
  /** how the body of a message with this head is framed; a string says why it cannot be */
  framing(head: H): BodyFraming | string;
  /** request streams may start with empty lines (RFC 9112 2.2); responses not */
  skipLeadingEmptyLines: boolean;
}

type State = "head" | "body" | "end" | "raw";

export class MessageSplitter<H> {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private state: State = "head";
  private body: BodyReader | null = null;
  /** how far findHeadEnd has searched the front chunk */
  private searched = 0;
  private tunnelAfterEnd = false;

  constructor(private readonly grammar: MessageGrammar<H>) {}

  /** bytes pushed and not yet taken out */
  get buffered(): number {
    return this.bytes;
  }

  /** true once the stream is no longer parsed (upgraded, or malformed) */
  get raw(): boolean {
    return this.state === "raw";
  }

  /** true between messages (nothing of a message taken out yet) */
  get atMessageStart(): boolean {
    return this.state === "head";
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /** From now on (or, mid-message, from the end of this message) every byte comes as "raw". */
  switchToRaw(): void {
    if (this.state === "head") this.state = "raw";
    else this.tunnelAfterEnd = true;
  }

  /** Drops every byte pushed and not yet taken out (a partial head that can never complete). */
  discard(): void {
    this.chunks.length = 0;
    this.bytes = 0;
    this.searched = 0;
  }

  /** The next piece, or null when more bytes are needed. */
  next(): Piece<H> | null {
    switch (this.state) {
      case "raw":
        return this.takeRaw();
      case "end":
        this.state = this.tunnelAfterEnd ? "raw" : "head";
        this.body = null;
        return { kind: "end" };
      case "head":
        return this.takeHead();
      case "body":
        return this.takeBody();
    }
  }

  private takeRaw(): Piece<H> | null {
    const c = this.chunks.shift();
    if (c === undefined) return null;
    this.bytes -= c.length;
    return { kind: "raw", bytes: c };
  }

  private invalid(reason: string): Piece<H> {
    this.state = "raw";
    this.searched = 0;
    return { kind: "invalid", reason };
  }

  private takeHead(): Piece<H> | null {
    if (this.chunks.length === 0) return null;
    let front = this.chunks[0]!;
    const skip = this.grammar.skipLeadingEmptyLines ? leadingEmptyLines(front) : 0;
    let end = findHeadEnd(front, Math.max(skip, this.searched - 3));
    while (end < 0) {
      if (front.length > MAX_HEAD_BYTES) return this.invalid(`head larger than ${MAX_HEAD_BYTES} bytes`);
      if (this.chunks.length < 2) {
        this.searched = front.length;
        return null;
      }
      // the head spans chunks: join the front two and search on
      const joined = Buffer.concat([front, this.chunks[1]!]);
      this.chunks.splice(0, 2, joined);
      this.searched = front.length;
      front = joined;
      end = findHeadEnd(front, Math.max(skip, this.searched - 3));
    }
    this.searched = 0;
    if (end > MAX_HEAD_BYTES) return this.invalid(`head larger than ${MAX_HEAD_BYTES} bytes`);
    const bytes = front.subarray(0, end);
    const head = this.grammar.parse(bytes);
    if (typeof head === "string") return this.invalid(head);
    const framing = this.grammar.framing(head);
    if (typeof framing === "string") return this.invalid(framing);
    this.consumeFront(end);
    if (framing.kind === "tunnel") this.state = "raw";
    else if (framing.kind === "length" && framing.length === 0) this.state = "end"; // no body (most requests)
    else {
      this.body = new BodyReader(framing);
      this.state = this.body.done ? "end" : "body";
    }
    return { kind: "head", head, bytes };
  }

  private takeBody(): Piece<H> | null {
    const front = this.chunks[0];
    if (front === undefined) return null;
    const r = this.body!.read(front, 0);
    if (typeof r === "string") return this.invalid(r);
    const bytes = front.subarray(0, r.used);
    this.consumeFront(r.used);
    if (r.done) this.state = "end";
    if (bytes.length === 0) return this.next();
    return { kind: "body", bytes };
  }

  private consumeFront(n: number): void {
    const front = this.chunks[0]!;
    this.bytes -= n;
    if (n === front.length) this.chunks.shift();
    else this.chunks[0] = front.subarray(n);
  }
}
