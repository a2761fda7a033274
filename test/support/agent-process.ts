// Starts test/support/agent-child.js in a child process and reads its /probe (not a test file):
// the reliability tests and the soak measure the agent's own fds, RSS and timers this way,
// with no test-side sockets or timers mixed in.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { fileURLToPath } from "node:url";
import type { StartAgentProxy } from "../../src/agent/start.js";
import type { RateLimit } from "../../src/agent/control.js";
import type { LogLevel } from "../../src/agent/config.js";

export const AGENT_CHILD_PATH = fileURLToPath(new URL("./agent-child.js", import.meta.url));

export interface ChildAgentOptions {
  control?: string;
  proxies?: StartAgentProxy[];
  token?: string;
  tls?: { cert: string; key: string };
  maxControlConnections?: number;
  rateLimit?: RateLimit;
  logLevel?: LogLevel;
  /** pino JSON lines go to this file (default: no logs) */
  logFile?: string;
}

export interface ChildReady {
  url: string;
  httpUrl: string;
  /** proxy name -> bound listen HOST:PORT */
  proxies: Record<string, string>;
}

export interface ChildProbe {
  pid: number;
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  fds: number;
  /** CPU time the agent used since it started (user + system) */
  cpuMs: number;
  /** the agent's event loop delay since the last probe with resetDelay (ms; 5 ms resolution) */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** Timeout objects alive (created, not yet fired or cleared), ref'd or not */
  timers: number;
  /** process.getActiveResourcesInfo() counted by kind */
  resources: Record<string, number>;
  /** creation stacks of the live timers (AGENT_CHILD_TIMER_STACKS=1 in the child's env) */
  timerStacks?: string[];
}

export interface AgentProcess extends ChildReady {
  child: ChildProcess;
  /** port of a proxy's listener */
  port(proxy: string): number;
  probe(opts?: { gc?: boolean; resetDelay?: boolean }): Promise<ChildProbe>;
  /** everything the child wrote to stderr so far */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit code */
  stop(): Promise<number | null>;
}

export interface SpawnOptions {
  /** lower the child's open-file limit (sh -c "ulimit -n N; exec node ...") */
  fdLimit?: number;
  /** pass --expose-gc (default true) so probes can collect first */
  exposeGc?: boolean;
  /** the agent's control token, sent with each probe */
  token?: string;
}

/** Starts an agent child process and waits until it serves. */
export async function spawnAgent(opts: ChildAgentOptions, spawnOpts: SpawnOptions = {}): Promise<AgentProcess> {
  const nodeArgs = [...(spawnOpts.exposeGc === false ? [] : ["--expose-gc"]), AGENT_CHILD_PATH, JSON.stringify(opts)];
  const child =
    spawnOpts.fdLimit !== undefined
      ? spawn("/bin/sh", ["-c", `ulimit -n ${spawnOpts.fdLimit} && exec "$0" "$@"`, process.execPath, ...nodeArgs], { stdio: ["ignore", "pipe", "pipe"] })
      : spawn(process.execPath, nodeArgs, { stdio: ["ignore", "pipe", "pipe"] });
  child.on("error", () => {});
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    let buf = "";
    const onData = (d: string): void => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      child.stdout!.off("data", onData);
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ChildReady);
      } catch (err) {
        reject(new Error(`agent child printed ${JSON.stringify(buf.slice(0, nl))}: ${String(err)}`));
      }
    };
    child.stdout!.setEncoding("utf8").on("data", onData);
    child.once("exit", (code) => reject(new Error(`agent child exited (${code}) before serving: ${stderr}`)));
  });
  child.stdout!.resume();
  const token = spawnOpts.token ?? opts.token;
  return {
    ...ready,
    child,
    port: (proxy) => {
      const listen = ready.proxies[proxy];
      if (listen === undefined) throw new Error(`no proxy ${proxy} in the agent child`);
      return Number(listen.slice(listen.lastIndexOf(":") + 1));
    },
    probe: async (p = {}) => {
      const query = new URLSearchParams({ gc: p.gc === false ? "0" : "1", resetDelay: p.resetDelay ? "1" : "0" });
      const text = await httpGet(`${ready.httpUrl}/probe?${query}`, token);
      return JSON.parse(text) as ChildProbe;
    },
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, "exit") as Promise<[number | null]>;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      const [code] = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

/** GET a URL (http or https, self-signed accepted) with an optional bearer token; rejects on non-200. */
export function httpGet(url: string, token?: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    // no keep-alive: an idle kept-alive socket would leave a timer in the agent being measured
    const headers: Record<string, string> = { connection: "close", ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const req = (url.startsWith("https:") ? httpsRequest : httpRequest)(url, { headers, agent: false, rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${res.statusCode} ${body}`))));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

export const MiB = 1024 * 1024;
