// The in-order answer queue of one connection. Every request that expects an answer gets an
// entry, in the order it arrived; the client gets answers strictly in that order. An entry waits
// for its server response units (relayed, or swallowed), then may add an injected answer and a
// last act (reset for a lost response, close after a FATAL error). An injected answer with no
// server part is ready at once and leaves as soon as everything ahead of it has.
export type Then = "none" | "reset" | "close";

export interface Entry {
  /** server response units still to come for it */
  awaiting: number;
  /** true: its server units go to the client; false: they are swallowed */
  relay: boolean;
  /** sent to the client once its server units are done */
  answer: Buffer | null;
  /**
   * Set when the answer stands for a server's answer to a request that never went up (a
   * rule's fail): the request's size, so the answer waits out the request's trip up the link.
   */
  madeFor?: number;
  then: Then;
  /** when its request went upstream (for request_duration_seconds); null = not measured */
  sentAt: number | null;
  /**
   * The entry stands for `awaiting` requests of one response unit each, sent together (a
   * pipeline read in one chunk while no rule exists): every unit is one request answered.
   */
  each?: boolean;
  /**
   * Set only while someone watches every request: the request's label and arrival (now() time);
   * the sink hears of it when the first bytes of its answer come (`said` then).
   */
  trace?: Trace;
}

/** A watched request waiting for its answer's start (or for its client to leave). */
export interface Trace {
  label: string;
  /** arrival, now() time */
  at: number;
  said: boolean;
  /** what makes a retry the same request */
  identity?: string;
  /** a rule's delayed or lost request: reported as that fault once settled */
  fault?: { outcome: "delayed" | "lost"; rule: string };
}

export interface QueueSink {
  toClient(buf: Buffer): boolean;
  /** an answer made in the server's place for a request of `requestBytes` that never went up */
  answerClient(buf: Buffer, requestBytes: number): boolean;
  reset(): void;
  close(): void;
  answered(seconds: number, count: number): void;
  /** a traced entry's answer started `ms` after its request arrived; `first` = its first bytes */
  traced(trace: Trace, ms: number, first: Buffer): void;
  now(): number;
}

export class AnswerQueue {
  private readonly entries: Entry[] = [];
  /** entries that are not plain relayed ones: while 0, server bytes need no cutting */
  private special = 0;
  private ended = false;

  constructor(private readonly sink: QueueSink) {}

  get length(): number {
    return this.entries.length;
  }

  /** True while server bytes may go to the client as they come (nothing to cut or insert). */
  get plain(): boolean {
    return this.special === 0;
  }

  push(entry: Entry): boolean {
    if (this.ended) return true;
    if (!isPlain(entry)) this.special++;
    this.entries.push(entry);
    return this.flush();
  }

  /**
   * `units` requests of one response unit each, sent at `sentAt`: added to the last entry when it
   * is such a run sent at the same time (a pipeline decided in one pass), else a new entry.
   */
  pushEach(units: number, sentAt: number): boolean {
    if (this.ended) return true;
    const tail = this.entries[this.entries.length - 1];
    if (tail !== undefined && tail.each === true && tail.sentAt === sentAt && tail.awaiting > 0) {
      tail.awaiting += units;
      return true;
    }
    return this.push({ awaiting: units, relay: true, answer: null, then: "none", sentAt, each: true });
  }

  /**
   * Server bytes that belong to the head entry (or to none: async messages, a greeting).
   * `complete`: the bytes end a response unit.
   */
  server(bytes: Buffer, complete: boolean): boolean {
    if (this.ended) return true;
    const head = this.entries[0];
    let ok = true;
    if (head === undefined || head.awaiting === 0) {
      if (bytes.length > 0) ok = this.sink.toClient(bytes);
      return ok;
    }
    if (head.trace !== undefined && !head.trace.said) {
      head.trace.said = true;
      this.sink.traced(head.trace, this.sink.now() - head.trace.at, bytes);
    }
    if (head.relay && bytes.length > 0) ok = this.sink.toClient(bytes);
    if (complete) {
      head.awaiting--;
      if (head.each === true && head.sentAt !== null) this.sink.answered((this.sink.now() - head.sentAt) / 1000, 1);
      if (head.awaiting === 0) ok = this.flush() && ok;
    }
    return ok;
  }

  /** Fast path: `units` whole response units arrived and were written already. */
  completed(units: number): void {
    let left = units;
    while (left > 0 && this.entries.length > 0) {
      const head = this.entries[0]!;
      const n = Math.min(left, head.awaiting);
      left -= n;
      head.awaiting -= n;
      const timed = head.sentAt !== null;
      if (timed && head.each === true) this.sink.answered((this.sink.now() - head.sentAt!) / 1000, n);
      if (head.awaiting === 0) {
        this.entries.shift();
        if (timed && head.each !== true) this.sink.answered((this.sink.now() - head.sentAt!) / 1000, 1);
      }
    }
  }

  /** An entry's injected answer, made in the server's place or appended to the server's. */
  private send(e: Entry): boolean {
    return e.madeFor !== undefined ? this.sink.answerClient(e.answer!, e.madeFor) : this.sink.toClient(e.answer!);
  }

  /** Sends every finished entry at the head. */
  private flush(): boolean {
    let ok = true;
    while (!this.ended && this.entries.length > 0 && this.entries[0]!.awaiting === 0) {
      const e = this.entries.shift()!;
      if (!isPlain(e)) this.special--;
      if (e.sentAt !== null && e.relay && e.each !== true) this.sink.answered((this.sink.now() - e.sentAt) / 1000, 1);
      if (e.answer !== null) ok = this.send(e) && ok;
      if (e.then === "reset") {
        this.ended = true;
        this.sink.reset();
      } else if (e.then === "close") {
        this.ended = true;
        this.sink.close();
      }
    }
    return ok;
  }

  /**
   * Server bytes can no longer be framed: the injected answers still owed go now, in order,
   * and the queue takes nothing more (what follows passes raw).
   */
  abandon(): boolean {
    let ok = true;
    for (const e of this.entries) if (e.answer !== null && !this.ended) ok = this.send(e) && ok;
    this.clear();
    return ok;
  }

  /** The watched requests still waiting for their answers' start, each marked said (the client left). */
  unanswered(): Trace[] {
    const out: Trace[] = [];
    for (const e of this.entries) {
      if (e.trace === undefined || e.trace.said) continue;
      e.trace.said = true;
      out.push(e.trace);
    }
    return out;
  }

  clear(): void {
    this.ended = true;
    this.entries.length = 0;
  }
}

function isPlain(e: Entry): boolean {
  return e.relay && e.answer === null && e.then === "none" && e.trace === undefined;
}
