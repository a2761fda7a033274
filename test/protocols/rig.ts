// The rig every protocol test uses (not a test file itself): one in-process agent with one
// proxy towards a real peer, a control client, the describe-level setup and teardown, and the
// checks every protocol makes under the same faults (round trips, bandwidth floors, stalls, slices).
import assert from "node:assert/strict";
import { after, before, type TestContext } from "node:test";
import type { ProtocolName } from "../../src/requests/rule.js";
import { connect, startAgent, type ApplyOptions, type ControlClient, type RunningAgent } from "../../src/index.js";
import { parseHostPort } from "../../src/relay/address.js";
import { requireService, serviceAddress, type Service } from "../support/services.js";

export interface ProxyRig {
  /** the proxy's name on the agent */
  readonly name: string;
  /** the port clients dial (127.0.0.1) */
  readonly port: number;
  readonly agent: RunningAgent;
  readonly ctl: ControlClient;
  /** a profile, or undefined with an inline `spec` in opts */
  apply(profile: string | undefined, opts?: ApplyOptions): Promise<void>;
  clear(): Promise<void>;
  /** applies, runs `fn`, clears (also when `fn` throws) */
  during<T>(profile: string | undefined, opts: ApplyOptions | undefined, fn: () => Promise<T>): Promise<T>;
  /** RST every live connection of the proxy now; resolves with how many */
  resetAll(): Promise<number>;
  /** live connections through the proxy */
  connectionCount(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Starts an agent with one proxy `name`: 127.0.0.1:0 -> `upstream`, carrying `protocol` (tcp
 * unless given). With NETIMPAIR_RIG_PROTOCOL=1 the rigs of the redis, postgres, mysql, HTTP,
 * WebSocket and gRPC tests run through a protocol proxy (request layer on, no rule), so the same
 * tests prove it passes byte for byte.
 */
const RIG_PROTOCOLS: Record<string, ProtocolName> = { redis: "redis", pg: "postgres", mysql: "mysql", http: "http", ws: "http", grpc: "grpc" };

export async function startProxyRig(name: string, upstream: string, given?: ProtocolName): Promise<ProxyRig> {
  const protocol = given ?? (process.env.NETIMPAIR_RIG_PROTOCOL === "1" ? (RIG_PROTOCOLS[name] ?? "tcp") : "tcp");
  const agent = await startAgent({ control: "127.0.0.1:0", proxies: [{ name, listen: "127.0.0.1:0", upstream, protocol }] });
  let ctl: ControlClient;
  try {
    ctl = await connect(agent.url);
  } catch (err) {
    await agent.close();
    throw err;
  }
  const proxy = (await ctl.proxies()).find((p) => p.name === name);
  const hp = proxy ? parseHostPort(proxy.listen) : "proxy not listed";
  if (typeof hp === "string") {
    await ctl.close();
    await agent.close();
    throw new Error(`proxy ${name}: ${hp}`);
  }
  return {
    name,
    port: hp.port,
    agent,
    ctl,
    apply: async (profile, opts) => {
      await ctl.apply(name, profile, opts);
    },
    clear: async () => {
      await ctl.clear(name);
    },
    during: async (profile, opts, fn) => {
      await ctl.apply(name, profile, opts);
      try {
        return await fn();
      } finally {
        await ctl.clear(name);
      }
    },
    resetAll: async () => (await ctl.reset(name)).reset,
    connectionCount: async () => (await ctl.connections(name)).length,
    close: async () => {
      await ctl.close();
      await agent.close();
    },
  };
}

/**
 * The rig of a describe block: its `before` starts it towards `upstream` (a loopback service,
 * required to be up, or the address a function resolves with); its `after` clears any fault, runs
 * `teardown` (drop the test's data, close its clients) and stops it. Hooks run in the order they
 * are registered: a block whose upstream is its own server starts that server in a `before` above
 * this call and closes it in an `after` below it.
 */
export function useProxyRig(name: string, upstream: Service | (() => Promise<string>), teardown: () => Promise<void> = async () => {}): ProxyRig {
  let rig: ProxyRig | undefined;
  const started = (): ProxyRig => rig ?? assert.fail(`proxy rig ${name}: not started (its before hook failed)`);
  before(async () => {
    if (typeof upstream === "function") {
      rig = await startProxyRig(name, await upstream());
    } else {
      await requireService(upstream);
      rig = await startProxyRig(name, serviceAddress(upstream));
    }
  });
  after(async () => {
    if (!rig) return;
    await rig.clear();
    await teardown();
    await rig.close();
  });
  return {
    name,
    get port() {
      return started().port;
    },
    get agent() {
      return started().agent;
    },
    get ctl() {
      return started().ctl;
    },
    apply: (profile, opts) => started().apply(profile, opts),
    clear: () => started().clear(),
    during: (profile, opts, fn) => started().during(profile, opts, fn),
    resetAll: () => started().resetAll(),
    connectionCount: () => started().connectionCount(),
    close: () => started().close(),
  };
}

/** Milliseconds `fn` took. */
export async function elapsed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export interface Failure {
  /** ms from the call until it rejected */
  ms: number;
  error: Error;
}

/**
 * Waits for `p` to reject (what a fault should make a client do); throws when it resolves or
 * is still pending after `timeoutMs`.
 */
export async function failureOf(p: Promise<unknown>, timeoutMs: number, what: string): Promise<Failure> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    p.then(
      () => ({ kind: "resolved" as const }),
      (err: unknown) => ({ kind: "rejected" as const, error: err instanceof Error ? err : new Error(String(err)) }),
    ),
    new Promise<{ kind: "pending" }>((resolve) => {
      timer = setTimeout(() => resolve({ kind: "pending" }), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  const ms = performance.now() - t0;
  if (outcome.kind === "resolved") throw new Error(`${what}: expected a failure, but it succeeded after ${ms.toFixed(0)} ms`);
  if (outcome.kind === "pending") throw new Error(`${what}: expected a failure, still pending after ${timeoutMs} ms`);
  return { ms, error: outcome.error };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Retries `fn` until it succeeds or `timeoutMs` passes (then rethrows its last error). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000, pauseMs = 100): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (performance.now() > deadline) throw err;
      await sleep(pauseMs);
    }
  }
}

/** Records a measured number in the test output (the protocol matrix is built from these). */
export function measured(t: TestContext, text: string): void {
  t.diagnostic(text);
}

/** The error's message with its code (e.g. "ECONNRESET: read ECONNRESET"). */
export function describeError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(String(code)) ? `${code}: ${err.message}` : err.message;
}

// Faults the tests apply, short enough for a test run.
/** the built-in profile whose round trip and bandwidth the tests feel */
export const FELT_PROFILE = "3g";
export const FELT_RTT_MS = 100;
export const FELT_UP_BPS = 500_000;
export const FELT_DOWN_BPS = 1_000_000;
/** RST every connection now and every new one while applied */
export const RESET_NOW: ApplyOptions = { set: { "reset.after": "0" } };
/** every live connection half-open at once; the agent resets the client side after the hold */
export const HALF_OPEN_HOLD_MS = 5000;
export const HALF_OPEN_NOW: ApplyOptions = { set: { "halfOpen.after": "0", "halfOpen.hold": `${HALF_OPEN_HOLD_MS}ms` } };
/** stalls: 250 ms of nothing in every 400 ms, both directions */
export const STALLS: ApplyOptions = { set: { "stall.every": "400ms", "stall.duration": "250ms" } };
export const STALL_MS = 250;
/** deliver in 7-byte pieces 1 ms apart, both directions (protocol headers split mid-field) */
export const SLICES: ApplyOptions = {
  set: { "down.slice.size": "7B", "down.slice.delay": "1ms", "up.slice.size": "7B", "up.slice.delay": "1ms" },
};

export interface RepeatResult {
  /** operations completed */
  count: number;
  /** the slowest one, ms */
  maxMs: number;
}

/**
 * Runs `op(i)` back to back until `durationMs` has passed: under STALLS (first stall 400 ms
 * after the apply) some operation is caught by a stall and waits it out.
 */
export async function repeatFor(durationMs: number, op: (i: number) => Promise<void>): Promise<RepeatResult> {
  const end = performance.now() + durationMs;
  let count = 0;
  let maxMs = 0;
  while (performance.now() < end) {
    const t0 = performance.now();
    await op(count);
    maxMs = Math.max(maxMs, performance.now() - t0);
    count++;
  }
  return { count, maxMs };
}

// The checks each protocol test makes under the same faults; `what` and `label` name the
// client's operation in the recorded line (the protocol matrix in docs/protocols.md).

/** Under FELT_PROFILE: `n` sequential `op(i)` take at least n round trips. */
export async function assertRoundTrips(t: TestContext, what: string, n: number, op: (i: number) => Promise<unknown>): Promise<void> {
  const ms = await elapsed(async () => {
    for (let i = 0; i < n; i++) await op(i);
  });
  measured(t, `${n} sequential ${what}: ${ms.toFixed(0)} ms (>= ${n} x ${FELT_RTT_MS} ms)`);
  assert.ok(ms >= n * FELT_RTT_MS * 0.95, `${n} ${what} took ${ms.toFixed(0)} ms`);
}

/** Under FELT_PROFILE: `send`, which moves `bytes` up, takes at least size / up bandwidth. */
export async function assertUpFloor(t: TestContext, label: string, bytes: number, send: () => Promise<unknown>): Promise<void> {
  const ms = await elapsed(send);
  const floor = (bytes * 8 * 1000) / FELT_UP_BPS;
  measured(t, `${label}: ${ms.toFixed(0)} ms (size / up bandwidth = ${floor.toFixed(0)} ms)`);
  assert.ok(ms >= floor * 0.9, `${label} took ${ms.toFixed(0)} ms`);
}

/** Under FELT_PROFILE: `receive`, which moves `bytes` down, takes size / down bandwidth (and not 4 times that + 2 s). */
export async function assertDownFloor(t: TestContext, label: string, bytes: number, receive: () => Promise<unknown>): Promise<void> {
  const ms = await elapsed(receive);
  const floor = (bytes * 8 * 1000) / FELT_DOWN_BPS;
  measured(t, `${label}: ${ms.toFixed(0)} ms (size / down bandwidth = ${floor.toFixed(0)} ms)`);
  assert.ok(ms >= floor * 0.9, `${label} took ${ms.toFixed(0)} ms`);
  assert.ok(ms < floor * 4 + 2000, `${label} took ${ms.toFixed(0)} ms`);
}

/** Under STALLS for 1.3 s, `op(i)` back to back: each answers (op asserts what), and some waits out a stall. */
export async function assertWaitsOutStalls(rig: ProxyRig, t: TestContext, what: string, op: (i: number) => Promise<void>): Promise<void> {
  await rig.during("clean", STALLS, async () => {
    const r = await repeatFor(1300, op);
    measured(t, `${r.count} ${what} in 1.3 s under stalls, slowest ${r.maxMs.toFixed(0)} ms (stall ${STALL_MS} ms)`);
    assert.ok(r.maxMs >= STALL_MS * 0.8, `slowest of ${what} ${r.maxMs.toFixed(0)} ms`);
  });
}

/** Runs `fn` (which asserts what arrived) under SLICES and records how long it took. */
export async function measureSliced(rig: ProxyRig, t: TestContext, what: string, fn: () => Promise<void>): Promise<void> {
  await rig.during("clean", SLICES, async () => {
    const ms = await elapsed(fn);
    measured(t, `${what} under 7 B slices: ${ms.toFixed(0)} ms`);
  });
}
