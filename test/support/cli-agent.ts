// `netimpair agent` started through the real CLI binary, as a user runs it (not a test file):
// its control URL, its HTTP base (Toxiproxy API, /metrics), its JSON log lines, SIGTERM to stop.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { CLI_PATH } from "./cli.js";

export interface CliAgent {
  child: ChildProcess;
  /** ws://127.0.0.1:PORT/control */
  url: string;
  /** http://127.0.0.1:PORT */
  httpUrl: string;
  /** every JSON log line so far (stdout), parsed */
  logs(): Record<string, unknown>[];
  /** waits until a log line matches (default 5 s) */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `netimpair agent --control 127.0.0.1:0 --log-level info ARGS...`; resolves once it serves. */
export async function startCliAgent(args: string[] = [], env: Record<string, string> = {}): Promise<CliAgent> {
  const child = spawn(process.execPath, [CLI_PATH, "agent", "--control", "127.0.0.1:0", "--log-level", "info", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  child.on("error", () => {});
  let stdout = "";
  let stderr = "";
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    let nl: number;
    while ((nl = stdout.indexOf("\n")) >= 0) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding("utf8");
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no control URL within 15 s; stderr: ${stderr}`)), 15_000);
    child.stderr!.on("data", (d: string) => {
      stderr += d;
      const m = /control (wss?:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited ${code}: ${stderr}`));
    });
  });
  const u = new URL(url);
  return {
    child,
    url,
    httpUrl: `${u.protocol === "wss:" ? "https" : "http"}://${u.host}`,
    logs: () => [...lines],
    stderr: () => stderr,
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
