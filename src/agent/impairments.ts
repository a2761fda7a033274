// Per-proxy impairment state and its revert rules (SPEC "Applying"), free of sockets and real time.
//
// Every apply or clear pushes an entry that remembers the entry it replaced. An entry ends
// ("dies") when its ttl runs out or when the control session it is bound to closes; if it is
// still the proxy's current entry at that moment, the proxy goes back to the newest entry
// before it that is still alive. A later apply or clear always wins: a dead entry that is no
// longer current changes nothing, and it is skipped when an older revert walks back past it.
import type { ImpairmentState, SetOverrides } from "../control/protocol.js";
import { isCleanSpec, type ImpairmentSpec } from "../profiles/types.js";

export interface Timers {
  /** wall clock, ms since the epoch (for expiresAt) */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type ChangeCause = "apply" | "clear" | "ttl" | "session" | "panic";

export type ChangeListener = (proxy: string, state: ImpairmentState | null, cause: ChangeCause) => void;

export interface ImpairmentInput {
  profile: string;
  spec: ImpairmentSpec;
  /** 0..100, default 100 */
  percent?: number;
  /** CIDRs, default [] = every client */
  clients?: string[];
  /** the overrides the apply gave (shown with the profile) */
  set?: SetOverrides;
}

export interface ApplyOptions {
  /** ms until the apply is reverted; null/undefined = until replaced */
  ttlMs?: number | null;
  /** a control session id; the apply is reverted when that session ends */
  session?: string | null;
}

interface Entry {
  /** null = clean */
  state: ImpairmentState | null;
  previous: Entry | null;
  dead: boolean;
  timer: unknown;
  session: string | null;
}

export class ImpairmentBook {
  private readonly current = new Map<string, Entry>();
  /** session id -> its bound entries, oldest first */
  private readonly sessions = new Map<string, { proxy: string; entry: Entry }[]>();
  private readonly pending = new Set<Entry>();

  constructor(
    private readonly onChange: ChangeListener,
    private readonly timers: Timers = realTimers,
  ) {}

  /** The proxy's impairment now; null when clean. */
  get(proxy: string): ImpairmentState | null {
    return this.current.get(proxy)?.state ?? null;
  }

  /**
   * Replaces the proxy's impairment at once. A spec equal to clean stores null (= clear),
   * though its ttl / session still revert it. Returns the state now current.
   */
  apply(proxy: string, input: ImpairmentInput, opts: ApplyOptions = {}): ImpairmentState | null {
    const ttlMs = opts.ttlMs ?? null;
    if (ttlMs !== null && !(Number.isFinite(ttlMs) && ttlMs > 0)) throw new RangeError(`ttl must be a positive number of ms, got ${ttlMs}`);
    const state: ImpairmentState | null = isCleanSpec(input.spec)
      ? null
      : {
          profile: input.profile,
          spec: input.spec,
          expiresAt: ttlMs === null ? null : new Date(this.timers.now() + ttlMs).toISOString(),
          percent: input.percent ?? 100,
          clients: input.clients ?? [],
          ...(input.set !== undefined && Object.keys(input.set).length > 0 ? { set: input.set } : {}),
        };
    const entry: Entry = { state, previous: this.current.get(proxy) ?? null, dead: false, timer: null, session: opts.session ?? null };
    this.current.set(proxy, entry);
    if (ttlMs !== null) {
      this.pending.add(entry);
      entry.timer = this.timers.setTimeout(() => {
        entry.timer = null;
        this.pending.delete(entry);
        this.end(proxy, entry, "ttl");
      }, ttlMs);
    }
    if (entry.session !== null) {
      let list = this.sessions.get(entry.session);
      if (!list) this.sessions.set(entry.session, (list = []));
      list.push({ proxy, entry });
    }
    this.onChange(proxy, state, "apply");
    return state;
  }

  /** Returns the proxy to clean at once. A pending ttl of what it replaces no longer matters. */
  clear(proxy: string): void {
    const entry: Entry = { state: null, previous: this.current.get(proxy) ?? null, dead: false, timer: null, session: null };
    this.current.set(proxy, entry);
    this.onChange(proxy, null, "clear");
  }

  /** The session closed: its bound applies are undone newest first. Returns proxies changed. */
  endSession(session: string): string[] {
    const list = this.sessions.get(session);
    if (!list) return [];
    this.sessions.delete(session);
    const changed: string[] = [];
    for (let i = list.length - 1; i >= 0; i--) {
      const { proxy, entry } = list[i]!;
      if (this.end(proxy, entry, "session") && !changed.includes(proxy)) changed.push(proxy);
    }
    return changed;
  }

  /** The kill switch: every proxy clean, every pending ttl cancelled. Returns every proxy known. */
  panic(): string[] {
    for (const entry of this.pending) {
      this.timers.clearTimeout(entry.timer);
      entry.timer = null;
      entry.dead = true;
    }
    this.pending.clear();
    for (const list of this.sessions.values()) for (const { entry } of list) entry.dead = true;
    this.sessions.clear();
    const proxies = [...this.current.keys()];
    for (const proxy of proxies) {
      this.current.set(proxy, { state: null, previous: null, dead: false, timer: null, session: null });
      this.onChange(proxy, null, "panic");
    }
    return proxies;
  }

  /** The proxy is gone: drop its history and its pending ttls, without a change callback. */
  forget(proxy: string): void {
    for (let e = this.current.get(proxy) ?? null; e; e = e.previous) this.kill(e);
    this.current.delete(proxy);
    for (const [session, list] of this.sessions) {
      const kept = list.filter((b) => b.proxy !== proxy);
      if (kept.length) this.sessions.set(session, kept);
      else this.sessions.delete(session);
    }
  }

  /** Cancels every timer (agent shutdown). */
  dispose(): void {
    for (const entry of this.pending) this.timers.clearTimeout(entry.timer);
    this.pending.clear();
    this.sessions.clear();
  }

  private kill(entry: Entry): void {
    entry.dead = true;
    if (entry.timer !== null) {
      this.timers.clearTimeout(entry.timer);
      entry.timer = null;
    }
    this.pending.delete(entry);
  }

  /** Ends an entry; when it is current, reverts to the newest live one before it. True if changed. */
  private end(proxy: string, entry: Entry, cause: ChangeCause): boolean {
    if (entry.dead) return false;
    this.kill(entry);
    if (this.current.get(proxy) !== entry) return false;
    let back = entry.previous;
    while (back !== null && back.dead) back = back.previous;
    const restored: Entry = back ?? { state: null, previous: null, dead: false, timer: null, session: null };
    this.current.set(proxy, restored);
    this.onChange(proxy, restored.state, cause);
    return true;
  }
}
