// The soak: `npm run soak -- --minutes N [--proxies 3] [--workers 8] [--json FILE]`.
// An agent in its own process, several proxies in front of loopback echo upstreams, mixed
// traffic (request/response of 1 B - 256 KiB, every byte checked) and random profile changes
// (clean, links, and fault profiles with resets) for N minutes. It reports throughput, errors
// (injected: on a connection that lived under a fault profile; unexpected: anything else, and
// every corrupted echo), the agent's RSS and fds over time; at the end every proxy is cleared
// and the agent's fds and timers must be back at their start. Exit 0 when it held, 1 when not.
import { writeFileSync } from "node:fs";
import net from "node:net";
import { connect, type ControlClient } from "../../src/index.js";
import { spawnAgent, MiB, type AgentProcess, type ChildProbe } from "../support/agent-process.js";
import { echoServer } from "../support/net.js";
import { seededRandom } from "../support/fuzz-frames.js";

interface Options {
  minutes: number;
  proxies: number;
  workers: number;
  json: string | null;
  seed: number;
}

export interface SoakSample {
  atSeconds: number;
  connections: number;
  mbPerSecond: number;
  injectedErrors: number;
  unexpectedErrors: number;
  rssMiB: number;
  heapMiB: number;
  fds: number;
  timers: number;
}

export interface SoakReport {
  minutes: number;
  proxies: number;
  workers: number;
  connections: number;
  bytes: number;
  mbPerSecond: number;
  profileChanges: number;
  injectedErrors: number;
  unexpectedErrors: number;
  unexpected: string[];
  start: { rssMiB: number; fds: number; timers: number };
  end: { rssMiB: number; fds: number; timers: number };
  peakRssMiB: number;
  samples: SoakSample[];
  ok: boolean;
  problems: string[];
}

/** profiles that only shape the link, and ones that inject connection faults */
const LINK_PROFILES = ["clean", "4g", "lte", "fast-4g", "3g", "fast-3g", "wifi", "lossy-wifi", "cable", "dsl"];
const FAULT_PROFILES: { name: string; set?: Record<string, string> }[] = [
  { name: "flaky", set: { "stall.every": "5s", "stall.duration": "500ms", "reset.after": "2s", "reset.probability": "20%" } },
  { name: "clean", set: { "reset.probability": "10%" } },
  { name: "clean", set: { "connect.refuse": "10%" } },
  { name: "4g", set: { "limit.bytes": "100KB" } },
];
const RSS_GROWTH_BOUND_MIB = 64;

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: 2, proxies: 3, workers: 8, json: null, seed: Date.now() & 0xffff };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const num = (name: string): number => {
      const n = Number(v);
      if (v === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`${name} expects a number above 0, got ${JSON.stringify(v)}`);
      i++;
      return n;
    };
    if (a === "--minutes") o.minutes = num("--minutes");
    else if (a === "--proxies") o.proxies = Math.floor(num("--proxies"));
    else if (a === "--workers") o.workers = Math.floor(num("--workers"));
    else if (a === "--seed") o.seed = Math.floor(num("--seed"));
    else if (a === "--json") {
      if (!v) throw new Error("--json expects a file name");
      o.json = v;
      i++;
    } else throw new Error(`unknown option ${JSON.stringify(a)} (known: --minutes N, --proxies N, --workers N, --seed N, --json FILE)`);
  }
  return o;
}

/** Per proxy: when it last had a fault profile (a connection that overlaps it may be hit). */
class FaultWindows {
  private readonly faultySince = new Map<string, number>();
  private readonly faultyUntil = new Map<string, number>();
  set(proxy: string, faulty: boolean): void {
    const now = performance.now();
    if (faulty) {
      if (!this.faultySince.has(proxy)) this.faultySince.set(proxy, now);
      this.faultyUntil.set(proxy, Infinity);
    } else if (this.faultySince.has(proxy)) {
      this.faultySince.delete(proxy);
      this.faultyUntil.set(proxy, now);
    }
  }
  /** true when the proxy was faulty at any time since `since` */
  overlaps(proxy: string, since: number): boolean {
    return (this.faultyUntil.get(proxy) ?? -Infinity) >= since;
  }
}

interface Totals {
  connections: number;
  bytes: number;
  injected: number;
  unexpected: number;
  unexpectedSamples: string[];
}

/** One request/response on a new connection; resolves with bytes echoed or an error. */
function exchange(port: number, payload: Buffer, timeoutMs: number): Promise<{ ok: true } | { ok: false; error: string; corrupt: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port, noDelay: true });
    const parts: Buffer[] = [];
    let got = 0;
    let done = false;
    const finish = (r: { ok: true } | { ok: false; error: string; corrupt: boolean }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, error: `no full echo within ${timeoutMs} ms (${got}/${payload.length} bytes)`, corrupt: false }), timeoutMs);
    s.on("error", (err: NodeJS.ErrnoException) => finish({ ok: false, error: err.code ?? err.message, corrupt: false }));
    s.on("connect", () => s.end(payload));
    s.on("data", (d: Buffer) => {
      parts.push(d);
      got += d.length;
    });
    s.on("end", () => {
      const back = Buffer.concat(parts);
      if (back.length === payload.length && back.equals(payload)) return finish({ ok: true });
      const prefixOk = payload.subarray(0, back.length).equals(back);
      finish({ ok: false, error: prefixOk ? `closed after ${back.length}/${payload.length} bytes` : `corrupted echo at ${back.length} bytes`, corrupt: !prefixOk });
    });
    s.on("close", () => finish({ ok: false, error: `closed after ${got}/${payload.length} bytes`, corrupt: false }));
  });
}

export async function runSoak(opts: Options, print: (line: string) => void = (l) => process.stdout.write(l + "\n")): Promise<SoakReport> {
  const rnd = seededRandom(opts.seed);
  const echo = await echoServer();
  const names = Array.from({ length: opts.proxies }, (_, i) => `soak${i + 1}`);
  const agent: AgentProcess = await spawnAgent({ proxies: names.map((name) => ({ name, listen: "127.0.0.1:0", upstream: echo.address })) });
  const ctl: ControlClient = await connect(agent.url, { bindToSession: false });
  const windows = new FaultWindows();
  const totals: Totals = { connections: 0, bytes: 0, injected: 0, unexpected: 0, unexpectedSamples: [] };
  const samples: SoakSample[] = [];
  const durationMs = opts.minutes * 60_000;
  let profileChanges = 0;
  let stop = false;
  try {
    // warm up, then the start figures
    for (const p of names) await exchange(agent.port(p), Buffer.alloc(4096, 1), 10_000);
    const start: ChildProbe = await agent.probe();
    print(`soak: ${opts.minutes} min, ${opts.proxies} proxies x ${opts.workers} workers, seed ${opts.seed}; agent pid ${start.pid} rss ${(start.rssBytes / MiB).toFixed(1)} MiB fds ${start.fds}`);
    const began = performance.now();

    const worker = async (proxy: string, w: number): Promise<void> => {
      const r = seededRandom(opts.seed * 1000 + w);
      // random bytes, so a lost, repeated or reordered piece cannot echo back equal
      const source = Buffer.alloc(512 * 1024);
      for (let i = 0; i < source.length; i++) source[i] = Math.floor(r() * 256);
      while (!stop) {
        const size = r() < 0.7 ? 1 + Math.floor(r() * 4096) : 4096 + Math.floor(r() * 252 * 1024);
        const offset = Math.floor(r() * (source.length - size));
        const payload = source.subarray(offset, offset + size);
        const since = performance.now();
        const result = await exchange(agent.port(proxy), payload, 60_000);
        totals.connections++;
        if (result.ok) {
          totals.bytes += size * 2;
          continue;
        }
        if (!result.corrupt && windows.overlaps(proxy, since)) totals.injected++;
        else {
          totals.unexpected++;
          if (totals.unexpectedSamples.length < 20) totals.unexpectedSamples.push(`${proxy}: ${result.error}`);
        }
      }
    };
    const changer = async (): Promise<void> => {
      while (!stop) {
        await new Promise((res) => setTimeout(res, 1000 + rnd() * 3000));
        if (stop) break;
        const proxy = names[Math.floor(rnd() * names.length)]!;
        const faulty = rnd() < 0.25;
        if (faulty) {
          const f = FAULT_PROFILES[Math.floor(rnd() * FAULT_PROFILES.length)]!;
          windows.set(proxy, true); // before the apply: a fault may hit at once
          await ctl.apply(proxy, f.name, { ...(f.set ? { set: f.set } : {}) });
        } else {
          const name = LINK_PROFILES[Math.floor(rnd() * LINK_PROFILES.length)]!;
          if (name === "clean") await ctl.clear(proxy);
          else await ctl.apply(proxy, name);
          windows.set(proxy, false);
        }
        profileChanges++;
      }
    };
    const sampler = async (): Promise<void> => {
      const every = Math.min(10_000, Math.max(2000, durationMs / 12));
      let lastBytes = 0;
      let lastAt = performance.now();
      while (!stop) {
        await new Promise((res) => setTimeout(res, every));
        const p = await agent.probe({ gc: false });
        const now = performance.now();
        const s: SoakSample = {
          atSeconds: Math.round((now - began) / 1000),
          connections: totals.connections,
          mbPerSecond: Math.round(((totals.bytes - lastBytes) / MiB / ((now - lastAt) / 1000)) * 100) / 100,
          injectedErrors: totals.injected,
          unexpectedErrors: totals.unexpected,
          rssMiB: Math.round((p.rssBytes / MiB) * 10) / 10,
          heapMiB: Math.round((p.heapUsedBytes / MiB) * 10) / 10,
          fds: p.fds,
          timers: p.timers,
        };
        lastBytes = totals.bytes;
        lastAt = now;
        samples.push(s);
        print(`  t=${s.atSeconds}s conns=${s.connections} ${s.mbPerSecond} MiB/s errors injected=${s.injectedErrors} unexpected=${s.unexpectedErrors} rss=${s.rssMiB} MiB heap=${s.heapMiB} MiB fds=${s.fds} timers=${s.timers}`);
      }
    };
    const loops = [...names.flatMap((p, i) => Array.from({ length: opts.workers }, (_, w) => worker(p, i * 100 + w))), changer(), sampler()];
    await new Promise((res) => setTimeout(res, durationMs));
    stop = true;
    await Promise.all(loops);
    const elapsed = (performance.now() - began) / 1000;

    // the end: clean, idle, and the agent's resources back where they started
    await ctl.clear("*");
    const deadline = performance.now() + 15_000;
    while ((await ctl.info()).proxies.some((p) => p.stats.connectionsActive > 0) && performance.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    let end = await agent.probe();
    for (let i = 0; i < 20 && (end.fds > start.fds || end.timers > start.timers); i++) {
      await new Promise((res) => setTimeout(res, 250));
      end = await agent.probe();
    }
    const peakRss = Math.max(start.rssBytes, end.rssBytes, ...samples.map((s) => s.rssMiB * MiB));
    const problems: string[] = [];
    if (totals.unexpected > 0) problems.push(`${totals.unexpected} unexpected errors: ${totals.unexpectedSamples.slice(0, 5).join("; ")}`);
    if (end.fds > start.fds) problems.push(`agent fds ${start.fds} at start, ${end.fds} at the end`);
    if (end.timers > start.timers) problems.push(`agent timers ${start.timers} at start, ${end.timers} at the end`);
    if ((end.rssBytes - start.rssBytes) / MiB > RSS_GROWTH_BOUND_MIB) problems.push(`agent RSS grew ${((end.rssBytes - start.rssBytes) / MiB).toFixed(1)} MiB (bound ${RSS_GROWTH_BOUND_MIB})`);
    if (totals.connections === 0) problems.push("no traffic at all");
    const report: SoakReport = {
      minutes: opts.minutes,
      proxies: opts.proxies,
      workers: opts.workers,
      connections: totals.connections,
      bytes: totals.bytes,
      mbPerSecond: Math.round((totals.bytes / MiB / elapsed) * 100) / 100,
      profileChanges,
      injectedErrors: totals.injected,
      unexpectedErrors: totals.unexpected,
      unexpected: totals.unexpectedSamples,
      start: { rssMiB: Math.round((start.rssBytes / MiB) * 10) / 10, fds: start.fds, timers: start.timers },
      end: { rssMiB: Math.round((end.rssBytes / MiB) * 10) / 10, fds: end.fds, timers: end.timers },
      peakRssMiB: Math.round((peakRss / MiB) * 10) / 10,
      samples,
      ok: problems.length === 0,
      problems,
    };
    print(
      `soak ${report.ok ? "held" : "FAILED"}: ${report.connections} connections, ${(report.bytes / MiB).toFixed(0)} MiB at ${report.mbPerSecond} MiB/s, ${profileChanges} profile changes, errors injected ${report.injectedErrors} unexpected ${report.unexpectedErrors}; agent rss ${report.start.rssMiB} -> ${report.end.rssMiB} MiB (peak ${report.peakRssMiB}), fds ${report.start.fds} -> ${report.end.fds}, timers ${report.start.timers} -> ${report.end.timers}${problems.length ? `\n  ${problems.join("\n  ")}` : ""}`,
    );
    return report;
  } finally {
    stop = true;
    await ctl.close().catch(() => undefined);
    await agent.stop();
    await echo.close();
  }
}

// run as a program (not when imported)
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/").split("/").pop()!)) {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    process.exit(2);
  }
  runSoak(opts)
    .then((report) => {
      if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2) + "\n");
      process.stdout.write(JSON.stringify({ soakReport: { ...report, samples: undefined } }) + "\n");
      process.exit(report.ok ? 0 : 1);
    })
    .catch((err: unknown) => {
      process.stderr.write(`soak: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
}
