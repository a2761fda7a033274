// Toxiproxy as a peer in side-by-side benchmarks: the server named by TOXIPROXY_BIN (e.g.
// ../shared/reference/toxiproxy-server), started as `toxiproxy-server -host 127.0.0.1 -port
// PORT` and driven by its REST API (a proxy, then `latency` / `bandwidth` toxics). A measuring
// instrument only: without TOXIPROXY_BIN its rows are left out; no test needs it.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { once } from "node:events";
import { procUsage } from "./proc.js";
import { freePort } from "../../support/net.js";

/** The server binary from TOXIPROXY_BIN, or null when it is not set. */
export function toxiproxyBin(): string | null {
  const bin = process.env.TOXIPROXY_BIN;
  return bin !== undefined && bin !== "" ? bin : null;
}

/** A toxic as Toxiproxy's API takes it. */
export interface Toxic {
  type: "latency" | "bandwidth";
  stream: "upstream" | "downstream";
  attributes: Record<string, number>;
}

export interface ToxiproxyRelay {
  port: number;
  pid: number;
  /** CPU (user + system, us) of the server process from /proc */
  cpuUs(): number;
  stop(): Promise<void>;
}

async function api(base: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`toxiproxy POST ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Starts the server, one proxy to 127.0.0.1:upstreamPort with `toxics`; resolves once it relays. */
/** Throws, naming TOXIPROXY_BIN, when `bin` is not an executable file. */
export function checkToxiproxyBin(bin: string): void {
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(`TOXIPROXY_BIN=${bin}: no executable file there (unset TOXIPROXY_BIN to leave Toxiproxy out)`);
  }
}

export async function startToxiproxy(bin: string, upstreamPort: number, toxics: Toxic[]): Promise<ToxiproxyRelay> {
  checkToxiproxyBin(bin);
  const apiPort = await freePort();
  const child: ChildProcess = spawn(bin, ["-host", "127.0.0.1", "-port", String(apiPort)], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LOG_LEVEL: "warn" },
  });
  child.on("error", () => {});
  child.stderr!.resume();
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = once(child, "exit");
    child.kill("SIGTERM");
    await gone;
  };
  try {
    const base = `http://127.0.0.1:${apiPort}`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await fetch(`${base}/version`).then((r) => r.ok, () => false);
      if (up) break;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${bin} did not serve its API on ${base}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const proxy = await api(base, "/proxies", { name: "bench", listen: "127.0.0.1:0", upstream: `127.0.0.1:${upstreamPort}`, enabled: true });
    const listen = String(proxy.listen);
    for (const [i, t] of toxics.entries()) await api(base, "/proxies/bench/toxics", { name: `t${i}`, toxicity: 1, ...t });
    const pid = child.pid!;
    return { port: Number(listen.slice(listen.lastIndexOf(":") + 1)), pid, cpuUs: () => procUsage(pid).cpuUs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
