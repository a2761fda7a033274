// `netimpair agent` started through the real CLI binary, as a user runs it (not a test file):
// its control URL, its HTTP base (Toxiproxy API, /metrics), the listen port of each proxy, its
// JSON log lines, SIGTERM to stop. The one way tests and benchmarks start a CLI agent; the
// helpers in protocol-agent.ts, experiment-lab.ts and test/bench/lib build on it.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect, type ConnectOptions, type ControlClient } from "../../src/control/client.js";
import { CLI_PATH } from "./cli.js";

export type LogLine = Record<string, unknown>;

export interface CliAgent {
  child: ChildProcess;
  /** ws://127.0.0.1:PORT/control */
  url: string;
  /** http://127.0.0.1:PORT */
  httpUrl: string;
  /** listen port of a proxy by name, as the agent printed it when it started (throws if none) */
  port(name: string): number;
  /** every JSON log line so far (stdout), parsed (none with `captureLogs: false`) */
  logs(): LogLine[];
  /** waits until a log line matches (default 5 s) */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stderr(): string;
  /** stdout and stderr as they arrived, interleaved */
  output(): string;
  /** SIGTERM (SIGKILL after 6 s); resolves once it exited */
  stop(): Promise<void>;
}

export interface CliAgentOptions {
  /** arguments after `agent`, `--control` and `--log-level` */
  args?: string[];
  /** added to the test's environment */
  env?: Record<string, string>;
  /** `--control ADDRESS` (default 127.0.0.1:0); null: none (args carry it) */
  control?: string | null;
  /** `--log-level LEVEL` (default info); null: none (the agent's default, or args carry it) */
  logLevel?: string | null;
  /** keep stdout's JSON log lines (default true); false: stdout goes nowhere */
  captureLogs?: boolean;
  /** node's own flags, before the CLI script (e.g. --cpu-prof) */
  nodeFlags?: string[];
  /** how long it may take to serve (default 15 s) */
  readyTimeoutMs?: number;
}

/** Starts `netimpair agent --control 127.0.0.1:0 --log-level info ARGS...`; resolves once it serves. */
export function startCliAgent(args: string[] = [], env: Record<string, string> = {}): Promise<CliAgent> {
  return spawnCliAgent({ args, env });
}

interface Ready {
  url: string;
  /** proxy name -> listen port */
  ports: Map<string, number>;
}

/** The agent's ready line: `netimpair agent V control URL[ proxies: NAME LISTEN -> UPSTREAM, ...]`. */
function parseReadyLine(line: string): Ready | null {
  const m = /control (wss?:\/\/\S+)(?: proxies: (.*))?$/.exec(line);
  if (!m) return null;
  const ports = new Map<string, number>();
  for (const p of (m[2] ?? "").matchAll(/(\S+) (\S+) -> /g)) ports.set(p[1]!, Number(p[2]!.slice(p[2]!.lastIndexOf(":") + 1)));
  return { url: m[1]!, ports };
}

/** Starts `netimpair agent` as `opts` say; resolves once it printed its ready line (it serves then). */
export async function spawnCliAgent(opts: CliAgentOptions = {}): Promise<CliAgent> {
  const { args = [], env = {}, control = "127.0.0.1:0", logLevel = "info", captureLogs = true, nodeFlags = [], readyTimeoutMs = 15_000 } = opts;
  const argv = [
    ...nodeFlags,
    CLI_PATH,
    "agent",
    ...(control === null ? [] : ["--control", control]),
    ...(logLevel === null ? [] : ["--log-level", logLevel]),
    ...args,
  ];
  const child = spawn(process.execPath, argv, {
    stdio: ["ignore", captureLogs ? "pipe" : "ignore", "pipe"],
    env: { ...process.env, ...env },
  });
  child.on("error", () => {});
  let partial = "";
  let stderr = "";
  let output = "";
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    output += d;
    partial += d;
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding("utf8");
  const ready = await new Promise<Ready>((resolve, reject) => {
    let seen = 0; // stderr up to here holds no ready line
    let found: Ready | null = null;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`netimpair agent: no control URL within ${readyTimeoutMs} ms; stderr: ${stderr}`));
    }, readyTimeoutMs);
    child.stderr!.on("data", (d: string) => {
      stderr += d;
      output += d;
      let nl: number;
      while (!found && (nl = stderr.indexOf("\n", seen)) >= 0) {
        found = parseReadyLine(stderr.slice(seen, nl));
        seen = nl + 1;
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`netimpair agent exited (${code ?? signal}) before serving: ${stderr}`));
    });
  });
  const u = new URL(ready.url);
  return {
    child,
    url: ready.url,
    httpUrl: `${u.protocol === "wss:" ? "https" : "http"}://${u.host}`,
    port: (name) => {
      const port = ready.ports.get(name);
      if (port === undefined) throw new Error(`the agent has no proxy ${name} (it started with: ${[...ready.ports.keys()].join(", ") || "none"})`);
      return port;
    },
    logs: () => [...lines],
    stderr: () => stderr,
    output: () => output,
    waitForLog: (match, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = lines.find(match);
          if (!hit) return false;
          waiters.delete(onLine);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const onLine = (): void => void check();
        const timer = setTimeout(() => {
          waiters.delete(onLine);
          reject(new Error(`no matching log line within ${timeoutMs} ms; lines: ${lines.map((l) => JSON.stringify(l)).join("\n")}`));
        }, timeoutMs);
        waiters.add(onLine);
        check();
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 6000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** A control client connected to `agent`; stops the agent when the connection fails. */
export async function connectToCliAgent(agent: CliAgent, opts: ConnectOptions = {}): Promise<ControlClient> {
  try {
    return await connect(agent.url, opts);
  } catch (err) {
    await agent.stop();
    throw err;
  }
}
