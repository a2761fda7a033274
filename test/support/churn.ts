// Many short connections through a proxy, a bounded number in flight (not a test file). Each
// one connects, sends a small numbered payload, expects it echoed back whole, and closes; the
// outcome of each is counted (ok, reset, refused, ...), and a corrupted echo is always "mismatch".
import net from "node:net";

export type ChurnOutcome = "ok" | "reset" | "refused" | "closed" | "timeout" | "mismatch" | "other";

export interface ChurnOptions {
  port: number;
  host?: string;
  total: number;
  /** connections in flight at once */
  concurrency: number;
  /** payload bytes per connection (default 64) */
  payloadBytes?: number;
  /** a connection with no outcome by then counts as "timeout" and is destroyed (default 10 s) */
  timeoutMs?: number;
}

export interface ChurnResult {
  total: number;
  outcomes: Record<ChurnOutcome, number>;
  /** error codes seen, counted */
  codes: Record<string, number>;
  elapsedMs: number;
  perSecond: number;
}

function payloadFor(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let p = 0; p + 4 <= size; p += 4) b.writeUInt32BE((i * 2654435761 + p) >>> 0, p);
  return b;
}

/** One connection's life; resolves with its outcome. */
export function oneConnection(port: number, host: string, payload: Buffer, timeoutMs: number, codes: Record<string, number>): Promise<ChurnOutcome> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host, noDelay: true });
    let got = 0;
    const parts: Buffer[] = [];
    let settled = false;
    const done = (o: ChurnOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    s.on("error", (err: NodeJS.ErrnoException) => {
      const code = err.code ?? "unknown";
      codes[code] = (codes[code] ?? 0) + 1;
      done(code === "ECONNRESET" || code === "EPIPE" ? "reset" : code === "ECONNREFUSED" ? "refused" : "other");
    });
    s.on("connect", () => s.write(payload));
    s.on("data", (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= payload.length) {
        const back = Buffer.concat(parts);
        if (back.length !== payload.length || !back.equals(payload)) return done("mismatch");
        s.end();
        done("ok");
      }
    });
    s.on("end", () => done(got < payload.length ? "closed" : "ok"));
    s.on("close", () => done(got < payload.length ? "closed" : "ok"));
  });
}

/** Runs `total` connections, `concurrency` at a time. */
export async function churn(opts: ChurnOptions): Promise<ChurnResult> {
  const host = opts.host ?? "127.0.0.1";
  const size = opts.payloadBytes ?? 64;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const outcomes: Record<ChurnOutcome, number> = { ok: 0, reset: 0, refused: 0, closed: 0, timeout: 0, mismatch: 0, other: 0 };
  const codes: Record<string, number> = {};
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < opts.total) {
      const i = next++;
      const o = await oneConnection(opts.port, host, payloadFor(i, size), timeoutMs, codes);
      outcomes[o]++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.total) }, worker));
  const elapsedMs = performance.now() - started;
  return { total: opts.total, outcomes, codes, elapsedMs, perSecond: Math.round((opts.total / elapsedMs) * 1000) };
}

/** Polls `check` every 50 ms until it returns true or `timeoutMs` passes; returns the last answer. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
