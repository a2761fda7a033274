// One call (stream) through the HTTP/2 splice (h2-splice.ts): its ids on both connections, what
// the rules decided, what is held for it, how far each side got, and, while someone watches,
// its identity and answer (settled once whole, as H2Termination's watched calls are).
import type { H2Call, H2Outcome, H2Settle } from "./h2-call.js";
import type { HeaderField } from "./hpack.js";
import { IdentityHash } from "../../requests/identity.js";
import type { AnswerShaper } from "./splice-answer.js";

export type CallState =
  /** its frames are kept until a delay lets go */
  | "held"
  /** sent upstream: frames pass both ways */
  | "forwarded"
  /** the agent answered it (fail, limit): the client's frames are dropped */
  | "answered";

/** A frame kept for a held call: DATA as it came, or a header block (trailers) re-encoded at release. */
export type HeldFrame = { data: Buffer; flags: number; flowBytes: number } | { fields: HeaderField[]; end: boolean };

export class SpliceCall {
  /** its stream id upstream; 0 until sent there */
  upstreamId = 0;
  state: CallState = "forwarded";
  /** the client ended its side (END_STREAM) */
  clientDone = false;
  /** the upstream (or the agent's answer) ended the response */
  responseDone = false;
  /** a non-informational response header block reached the client (or the agent answered) */
  responseStarted = false;
  sentAt = 0;
  outcome: H2Outcome = "forwarded";
  /** the server's answer is never passed on: the connection is reset when it comes */
  lose = false;
  /** the answer fault shaping the response's DATA, if any */
  shaper: AnswerShaper | null = null;
  /** held frames (a delay), in order, and the client's DATA bytes among them */
  held: HeldFrame[] = [];
  heldBytes = 0;
  /** the held header block */
  heldHead: { fields: HeaderField[]; end: boolean } | null = null;
  cancelHold: (() => void) | null = null;
  /** bytes the agent sent the client beyond what the upstream sent (malform): taken off the client's stream WINDOW_UPDATEs */
  streamDebt = 0;
  /** the stream was reset by either side (or the agent) */
  resetCode: number | undefined;
  /** the response was cut by the agent: the upstream's DATA is dropped */
  cut = false;

  constructor(
    readonly clientId: number,
    readonly call: H2Call,
    readonly watched: WatchedSpliceCall | null,
  ) {}
}

/** A watched call's identity (path and a hash of its request messages) and answer, settled once. */
export class WatchedSpliceCall {
  private readonly hash: IdentityHash;
  private requestEnded = false;
  private fate: { outcome: H2Outcome; seconds: number | null; at: number } | null = null;
  private answer: "ok" | "error" | undefined;
  private done = false;

  constructor(
    private readonly call: H2Call,
    private readonly host: { settled(call: H2Call, outcome: H2Outcome, seconds: number | null, detail?: H2Settle): void },
    private readonly now: () => number,
    private readonly planned: H2Outcome,
  ) {
    this.hash = new IdentityHash(call.path);
  }

  data(payload: Buffer): void {
    this.hash.update(payload);
  }

  requestEnd(): void {
    this.requestEnded = true;
    this.maybeFinish();
  }

  settled(outcome: H2Outcome, seconds: number | null): void {
    this.fate = { outcome, seconds, at: this.now() };
    if (outcome === "failed" || outcome === "limited") this.answer = "error";
    if (outcome === "reset" || outcome === "lost") this.finish(false);
    else this.maybeFinish();
  }

  /** the answer's grpc-status (trailers, or a trailers-only answer) */
  status(value: string | undefined): void {
    this.answer = Number(value) === 0 ? "ok" : "error";
    this.maybeFinish();
  }

  /** the stream closed; `abandonedBy`: reset (code other than NO_ERROR) before any answer */
  closed(resetCode: number | undefined, responseStarted: boolean): void {
    if (this.fate === null && !this.done) this.fate = { outcome: this.planned, seconds: null, at: this.now() };
    this.finish(this.answer === undefined && resetCode !== undefined && resetCode !== 0 && !responseStarted);
  }

  private maybeFinish(): void {
    if (this.fate !== null && this.answer !== undefined && this.requestEnded) this.finish(false);
  }

  private finish(abandoned: boolean): void {
    if (this.done || this.fate === null) return;
    this.done = true;
    const detail: H2Settle = { identity: this.hash.digest(), at: this.fate.at };
    if (this.answer !== undefined) detail.answer = this.answer;
    if (abandoned) detail.abandoned = true;
    this.host.settled(this.call, this.fate.outcome, this.fate.seconds, detail);
  }
}
