// Per-proxy impairment state and its revert rules (SPEC "Applying"), free of sockets and real time.
//
// Each proxy has a stack of live entries, oldest first; the top is the proxy's impairment (an
// empty stack is clean). An apply pushes an entry; an entry ends ("dies") when its ttl runs out
// or when the control session it is bound to closes, and leaves the stack at once. When the top
// dies, the proxy goes straight to the new top: one change, never a walk through the states in
// between. A later apply or clear always wins: an entry that dies below the top changes nothing.
//
// The stack keeps only what a revert can still reach. An entry that can never die (no ttl, no
// session), a clear, or a panic leaves nothing below it; an apply removes every entry it
// "covers" (one that is sure to be dead by the time the new one dies: same session, and an
// earlier or no expiry), so a ramp re-applying every 100 ms, or `apply --for` repeated, keeps
// the stack at a few entries and the memory flat.
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
  readonly proxy: string;
  /** null = clean */
  readonly state: ImpairmentState | null;
  /** timers.now() ms when the ttl runs out; null = never */
  readonly expiresAt: number | null;
  readonly session: string | null;
  timer: unknown;
}

/** What a clear or panic took away: the sessions whose bound applies it removed. */
export interface Removal {
  proxies: string[];
  sessions: string[];
}

/** True when `older` is sure to be dead whenever `newer` dies (so no revert can reach it). */
function covers(newer: Entry, older: Entry): boolean {
  const byTime = newer.expiresAt === null || (older.expiresAt !== null && older.expiresAt <= newer.expiresAt);
  const bySession = newer.session === null || older.session === newer.session;
  return byTime && bySession;
}

export class ImpairmentBook {
  /** proxy -> its live entries, oldest first (the last is current); absent = clean */
  private readonly stacks = new Map<string, Entry[]>();
  /** session id -> its live bound entries */
  private readonly sessions = new Map<string, Set<Entry>>();

  constructor(
    private readonly onChange: ChangeListener,
    private readonly timers: Timers = realTimers,
  ) {}

  /** The proxy's impairment now; null when clean. */
  get(proxy: string): ImpairmentState | null {
    return this.stacks.get(proxy)?.at(-1)?.state ?? null;
  }

  /** Live entries of a proxy (what a revert can still reach), for tests and diagnostics. */
  depth(proxy: string): number {
    return this.stacks.get(proxy)?.length ?? 0;
  }

  /** Sessions with live bound entries. */
  boundSessions(): string[] {
    return [...this.sessions.keys()];
  }

  /**
   * Replaces the proxy's impairment at once. A spec equal to clean stores null (= clear),
   * though its ttl / session still revert it. Returns the state now current.
   */
  apply(proxy: string, input: ImpairmentInput, opts: ApplyOptions = {}): ImpairmentState | null {
    const ttlMs = opts.ttlMs ?? null;
    if (ttlMs !== null && !(Number.isFinite(ttlMs) && ttlMs > 0)) throw new RangeError(`ttl must be a positive number of ms, got ${ttlMs}`);
    const expiresAt = ttlMs === null ? null : this.timers.now() + ttlMs;
    const state: ImpairmentState | null = isCleanSpec(input.spec)
      ? null
      : {
          profile: input.profile,
          spec: input.spec,
          expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
          percent: input.percent ?? 100,
          clients: input.clients ?? [],
          ...(input.set !== undefined && Object.keys(input.set).length > 0 ? { set: input.set } : {}),
        };
    const entry: Entry = { proxy, state, expiresAt, session: opts.session ?? null, timer: null };
    const kept = (this.stacks.get(proxy) ?? []).filter((older) => {
      if (!covers(entry, older)) return true;
      this.drop(older);
      return false;
    });
    kept.push(entry);
    this.stacks.set(proxy, kept);
    if (ttlMs !== null) entry.timer = this.timers.setTimeout(() => this.die(entry), ttlMs);
    if (entry.session !== null) {
      let set = this.sessions.get(entry.session);
      if (!set) this.sessions.set(entry.session, (set = new Set()));
      set.add(entry);
    }
    this.onChange(proxy, state, "apply");
    return state;
  }

  /** Returns the proxy to clean at once; nothing it replaced can come back. Returns the sessions whose bound applies it removed. */
  clear(proxy: string): Removal {
    const sessions = new Set<string>();
    for (const e of this.stacks.get(proxy) ?? []) {
      if (e.session !== null) sessions.add(e.session);
      this.drop(e);
    }
    this.stacks.delete(proxy);
    this.onChange(proxy, null, "clear");
    return { proxies: [proxy], sessions: [...sessions] };
  }

  /**
   * The session closed: all its bound applies end together, and each proxy they touched goes
   * straight to its newest entry left (one change per proxy). Returns the proxies changed.
   */
  endSession(session: string): string[] {
    const set = this.sessions.get(session);
    if (!set) return [];
    this.sessions.delete(session);
    const touched = new Set<string>();
    for (const e of set) {
      this.cancelTimer(e);
      touched.add(e.proxy);
    }
    const changed: string[] = [];
    for (const proxy of touched) {
      const stack = this.stacks.get(proxy);
      if (!stack) continue;
      const top = stack.at(-1);
      const kept = stack.filter((e) => !set.has(e));
      this.store(proxy, kept);
      if (kept.at(-1) !== top) {
        changed.push(proxy);
        this.onChange(proxy, kept.at(-1)?.state ?? null, "session");
      }
    }
    return changed;
  }

  /** The kill switch: every proxy clean, every pending ttl cancelled, every history dropped. */
  panic(): Removal {
    const sessions = [...this.sessions.keys()];
    const proxies = [...this.stacks.keys()];
    for (const stack of this.stacks.values()) for (const e of stack) this.cancelTimer(e);
    this.stacks.clear();
    this.sessions.clear();
    for (const proxy of proxies) this.onChange(proxy, null, "panic");
    return { proxies, sessions };
  }

  /** The proxy is gone: drop its entries and their pending ttls, without a change callback. */
  forget(proxy: string): void {
    for (const e of this.stacks.get(proxy) ?? []) this.drop(e);
    this.stacks.delete(proxy);
  }

  /** Cancels every timer (agent shutdown). */
  dispose(): void {
    for (const stack of this.stacks.values()) for (const e of stack) this.cancelTimer(e);
    this.stacks.clear();
    this.sessions.clear();
  }

  /** A ttl ran out: the entry leaves its stack; if it was the top, the proxy goes to the new top. */
  private die(entry: Entry): void {
    entry.timer = null;
    const stack = this.stacks.get(entry.proxy);
    const i = stack ? stack.indexOf(entry) : -1;
    if (!stack || i < 0) return;
    this.drop(entry);
    const wasTop = i === stack.length - 1;
    stack.splice(i, 1);
    this.store(entry.proxy, stack);
    if (wasTop) this.onChange(entry.proxy, stack.at(-1)?.state ?? null, "ttl");
  }

  private store(proxy: string, stack: Entry[]): void {
    if (stack.length) this.stacks.set(proxy, stack);
    else this.stacks.delete(proxy);
  }

  /** Takes an entry out of its session and cancels its timer (the caller removes it from the stack). */
  private drop(e: Entry): void {
    this.cancelTimer(e);
    if (e.session !== null) {
      const set = this.sessions.get(e.session);
      set?.delete(e);
      if (set && set.size === 0) this.sessions.delete(e.session);
    }
  }

  private cancelTimer(e: Entry): void {
    if (e.timer !== null) {
      this.timers.clearTimeout(e.timer);
      e.timer = null;
    }
  }
}
