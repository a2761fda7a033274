// The link model of one direction, as pure math: given when bytes arrive, it says when each
// segment is released to the far side. No sockets, no timers; time comes in as numbers (ms).
//
//   a chunk is cut into segments of at most `mtu` bytes (or `slice.size`; with slice.variation,
//   into pieces cut as Toxiproxy's slicer cuts them, see slicer.ts);
//   departure = max(arrival, previous departure) + size / bandwidth        (the bandwidth clock)
//   release   = departure + delay + jitter sample [+ rto when lost]
//   release  >= previous release                     (bytes are never reordered)
//   release  >= previous release + slice.delay       (slicing: pieces with gaps)
//   release inside a stall window -> the window's end, then paced at the link's rate.
// On a shared link (shared.ts) the departure comes from the shared clock and only releaseAt()
// is used here.
import type { DirectionSpec } from "../profiles/types.js";
import type { Random } from "../clock.js";
import type { StallSchedule } from "../faults/stall.js";
import { jitterSampler, type JitterSampler } from "./jitter.js";
import { lossModel, type LossModel } from "./loss.js";
import { slicePieces } from "./slicer.js";
import type { WriteModeration } from "./moderation.js";

/** One scheduled piece: `size` bytes at `offset` of the chunk, released at `release` (ms). */
export interface ScheduledPiece {
  offset: number;
  size: number;
  release: number;
}

/** Pieces whose release times lie this close together are handed over as one write. */
export const COALESCE_MS = 1;
/**
 * At rates where a millisecond carries several segments, a write may carry up to this many bytes
 * of consecutive segments (a socket read's worth, as Toxiproxy's 32 KiB), however many
 * milliseconds they span up to MAX_COALESCE_MS: the first of them waits for the last, so no byte
 * leaves before its time and none more than MAX_COALESCE_MS after it. Each write and each timer
 * wake-up is what a shaped link costs, not each byte (issue 27).
 */
export const COALESCE_BYTES = 32 * 1024;
/** The longest a segment waits for the ones it is written with (see COALESCE_BYTES). */
export const MAX_COALESCE_MS = 3;

/**
 * The window within which consecutive segments of a link at `msPerByte` are merged into one
 * piece: COALESCE_BYTES' time on the link, within [COALESCE_MS, MAX_COALESCE_MS]. A link slow
 * enough that one segment takes longer than MAX_COALESCE_MS never merges two.
 */
export function coalesceWindow(msPerByte: number): number {
  return Math.min(MAX_COALESCE_MS, Math.max(COALESCE_MS, COALESCE_BYTES * msPerByte));
}
/**
 * The most a link catches up after falling behind (the agent starved of CPU, a timer fired late,
 * a paused sender read late): the bandwidth clock counts up to this much of its idle time as
 * sent, so those bytes leave at once, back to back. Never more: what it lost beyond is lost.
 */
export const CATCH_UP_MS = 20;

export class LinkTiming {
  private msPerByte = 0;
  /** segments released within this many ms of the first of a run are one piece (coalesceWindow) */
  coalesceMs = COALESCE_MS;
  private jitter: JitterSampler = () => 0;
  private loss: LossModel = { lost: () => false };
  private lastDeparture = -Infinity;
  private lastRelease = -Infinity;
  /** true while releases are being paced out after a stall */
  private catchingUp = false;
  /** segments delivered late as lost since the counter was last read */
  lostSegments = 0;

  constructor(
    private spec: DirectionSpec,
    private stall: StallSchedule | null,
    private readonly random: Random,
    /** the agent's write moderation (moderation.ts), null: every run within coalesceMs */
    private readonly moderation: WriteModeration | null = null,
  ) {
    this.configure(spec, stall);
  }

  get direction(): DirectionSpec {
    return this.spec;
  }

  /** Switches to a new link. Timing state is kept so bytes stay in order. */
  configure(spec: DirectionSpec, stall: StallSchedule | null): void {
    this.spec = spec;
    this.stall = stall;
    this.msPerByte = spec.bandwidth === null ? 0 : 8000 / spec.bandwidth;
    this.coalesceMs = coalesceWindow(this.msPerByte);
    this.jitter = jitterSampler(spec.jitterDistribution, spec.jitter, this.random);
    this.loss = lossModel(spec, this.random);
  }

  /**
   * Forgets the bandwidth clock, for re-timing queued bytes under a new link: releases
   * continue from `lastDelivered`, the release time of the last piece actually handed over.
   */
  restartClock(lastDelivered: number): void {
    this.lastDeparture = -Infinity;
    this.lastRelease = lastDelivered;
    this.catchingUp = false;
  }

  /**
   * The window within which consecutive segments are merged into one piece now: coalesceMs, or
   * wider while the agent moderates its writes (moderation.ts). `spacingMs`: the time between
   * this link's consecutive segments (a segment's time on its own clock; on a shared link, the
   * gap between its turns).
   */
  mergeWindow(spacingMs = this.pieceSize() * this.msPerByte): number {
    if (this.moderation === null) return this.coalesceMs;
    return Math.max(this.coalesceMs, this.moderation.window(spacingMs));
  }

  /** Counts, for write moderation, the pieces this link makes as it would make them unmoderated. */
  countPieces(n: number): void {
    this.moderation?.count(n);
  }

  /** ms a byte takes on this link (0: no bandwidth limit). */
  get msPerByteNow(): number {
    return this.msPerByte;
  }

  /** The largest number of bytes per piece. */
  pieceSize(): number {
    return this.spec.slice ? Math.min(this.spec.slice.size, this.spec.mtu) : this.spec.mtu;
  }

  /**
   * Schedules `length` bytes that arrived at `arrival`. Consecutive segments released within
   * mergeWindow() of the first one of a run are merged into one piece (never with slicing).
   * `backlogged`: the sender had these bytes waiting while the link held it back (its queue was
   * full): if the bandwidth clock ran dry meanwhile, the time it idled was the agent's lateness,
   * not the sender's, and up to CATCH_UP_MS of it is counted as sent (the bytes depart as if
   * they had arrived then), so a late timer or a late read costs no bandwidth.
   */
  schedule(arrival: number, length: number, out: ScheduledPiece[] = [], backlogged = false): ScheduledPiece[] {
    const spec = this.spec;
    const seg = this.pieceSize();
    const sliceGap = spec.slice ? spec.slice.delay : 0;
    const coalesce = spec.slice === null;
    const base = this.coalesceMs;
    const window = coalesce ? this.mergeWindow() : base;
    let runStart = -1;
    let run: ScheduledPiece | null = null;
    /** runs as they would be within coalesceMs alone (what write moderation counts) */
    let natural = 0;
    let naturalStart = -Infinity;
    const varied = spec.slice?.variation ? slicePieces(length, spec.slice.size, spec.slice.variation, this.random) : null;
    if (backlogged && this.msPerByte > 0 && this.lastDeparture < arrival) arrival = Math.max(this.lastDeparture, arrival - CATCH_UP_MS);
    for (let offset = 0, i = 0; offset < length; i++) {
      const size = varied !== null ? varied[i]! : Math.min(seg, length - offset);
      const serialization = size * this.msPerByte;
      const departure = Math.max(arrival, this.lastDeparture) + serialization;
      this.lastDeparture = departure;
      const release = this.releaseAt(departure, serialization, sliceGap);
      if (!coalesce || release - naturalStart >= base) {
        natural++;
        naturalStart = release;
      }
      if (coalesce && run !== null && release - runStart < window) {
        run.size += size;
        run.release = release;
      } else {
        run = { offset, size, release };
        runStart = release;
        out.push(run);
      }
      offset += size;
    }
    this.countPieces(natural);
    return out;
  }

  /**
   * When a segment that left the bandwidth clock at `departure` (its own clock, or a shared
   * link's) is released: delay, jitter, loss, stalls, slicing gaps, never before the one ahead.
   */
  releaseAt(departure: number, serialization: number, sliceGap = this.spec.slice ? this.spec.slice.delay : 0): number {
    let release = departure + this.spec.delay + this.jitter();
    if (this.loss.lost()) {
      release += this.spec.rto;
      this.lostSegments++;
    }
    release = this.applyStall(release, serialization);
    if (release < this.lastRelease + sliceGap) release = this.lastRelease + sliceGap;
    this.lastRelease = release;
    return release;
  }

  private applyStall(release: number, serialization: number): number {
    let paced = release;
    if (this.catchingUp) {
      paced = Math.max(release, this.lastRelease + serialization);
      if (paced === release) this.catchingUp = false;
    }
    if (this.stall) {
      // A release pushed out of one window may land in a later one: loop until clear.
      for (let end = this.stall.windowEnd(paced); end !== null; end = this.stall.windowEnd(paced)) {
        paced = Math.max(end, this.lastRelease + serialization);
        this.catchingUp = true;
      }
    }
    return Math.max(paced, this.lastRelease);
  }
}
