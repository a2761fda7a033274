// Write moderation: an agent-wide budget of writes a second for its links' segments (issue 27).
//
// A link hands each segment over at its own time: at 1 Mbps, a write every 11.7 ms per
// connection. Each write is a send system call whose kernel work (on loopback, the receiver's
// side and its wake-up too) is most of what a shaped connection costs: one connection at 1 Mbps
// makes 86 writes a second, 200 of them 17,000, and cost twice Toxiproxy's CPU for the same
// bytes. Toxiproxy hands over up to 100 ms of a link per write, whatever the load.
//
// So the agent does what a network card's adaptive interrupt moderation does: while its links
// would make at most `budget` writes a second, every segment leaves at its own time. Above it,
// consecutive segments of one chunk are merged into one write of up to `perWrite` segments (the
// rate over the budget, rounded up), a run spanning at most MAX_MODERATION_MS (Toxiproxy's
// 100 ms). Nothing leaves early: the first segments of a run wait for its last. A link's rate,
// the order of bytes and the time of a lone segment (a request, an answer: nothing follows it to
// merge with) do not change; only bulk bytes on slow links, under many connections, arrive in
// fewer, larger reads. The rate is counted in the writes the links would make unmoderated, so
// moderating does not feed back into it. A budget of 0 never moderates.
import type { Now } from "../clock.js";

/**
 * Writes a second across all the agent's links before it merges segments (the default of the
 * agent's linkWriteBudget): 23 connections at 1 Mbps, or 7 at 10 Mbps, stay within it.
 */
export const WRITE_BUDGET = 2000;
/** The longest a moderated run spans: its first segment waits at most this long for its last. */
export const MAX_MODERATION_MS = 100;
/** How often the write rate is measured. */
export const MODERATION_PERIOD_MS = 500;

export class WriteModeration {
  private writes = 0;
  private periodStart: number;
  /** segments a moderated write may carry (1: none merged) */
  private perWrite = 1;

  constructor(
    private readonly now: Now,
    private readonly budget = WRITE_BUDGET,
  ) {
    this.periodStart = now();
  }

  /** Segments per write now (1 while the links are within the budget). */
  get segmentsPerWrite(): number {
    this.measure();
    return this.perWrite;
  }

  /** Counts writes a link will make, as it would make them unmoderated. */
  count(writes: number): void {
    this.writes += writes;
  }

  /**
   * The window within which a link whose segments take `segmentMs` each merges consecutive
   * segments into one write: 0 within the budget.
   */
  window(segmentMs: number): number {
    const perWrite = this.segmentsPerWrite;
    if (perWrite <= 1) return 0;
    return Math.min(MAX_MODERATION_MS, perWrite * segmentMs);
  }

  /** Ends the measuring period once it is over: the rate of its writes sets perWrite. */
  private measure(): void {
    const now = this.now();
    const elapsed = now - this.periodStart;
    if (elapsed < MODERATION_PERIOD_MS) return;
    const rate = (this.writes * 1000) / elapsed;
    this.perWrite = this.budget > 0 ? Math.max(1, Math.ceil(rate / this.budget)) : 1;
    this.writes = 0;
    this.periodStart = now;
  }
}
