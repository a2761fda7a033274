// What the `netimpair run` tests share (not a test file): a CLI-started agent with proxy "pg" in
// front of a loopback echo server, scenario files in a temp folder, and the real `netimpair run`
// binary as a child process.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type ControlClient } from "../../src/index.js";
import { CLI_PATH } from "../support/cli.js";
import { startCliAgent, type CliAgent } from "../support/cli-agent.js";
import { echoServer, sleep, type Peer } from "../support/net.js";

export interface RunLab {
  agent: CliAgent;
  echo: Peer;
  /** a control session of the test's own (not bound: it changes nothing by closing) */
  ctl: ControlClient;
  dir: string;
  /** writes `text` to a new file in the lab's folder and returns its path */
  file(text: string, ext?: string): Promise<string>;
  /** the profile now on proxy `proxy` (null = clean) */
  impairment(proxy?: string): Promise<string | null>;
  close(): Promise<void>;
}

export async function runLab(): Promise<RunLab> {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-run18-"));
  const echo = await echoServer();
  const agent = await startCliAgent(["--proxy", `pg=127.0.0.1:0,${echo.address}`]);
  const ctl = await connect(agent.url, { bindToSession: false });
  let n = 0;
  return {
    agent,
    echo,
    ctl,
    dir,
    async file(text, ext = "yaml") {
      const p = join(dir, `f${++n}.${ext}`);
      await writeFile(p, text);
      return p;
    },
    async impairment(proxy = "pg") {
      const p = (await ctl.proxies()).find((x) => x.name === proxy);
      return p?.impairment?.profile ?? null;
    },
    async close() {
      await ctl.close();
      await agent.stop();
      await echo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunningRunner {
  child: ChildProcess;
  /** stderr so far */
  stderr(): string;
  /** the runner process has exited (its output may still be open in a process that inherited it) */
  exited: Promise<void>;
  done: Promise<RunResult>;
}

/** Starts `netimpair run ARGS...`; NETIMPAIR_AGENT and NETIMPAIR_TOKEN are cleared unless `env` sets them. */
export function startRun(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): RunningRunner {
  const started = performance.now();
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.NETIMPAIR_AGENT;
  delete childEnv.NETIMPAIR_TOKEN;
  Object.assign(childEnv, env);
  const child = spawn(process.execPath, [CLI_PATH, "run", ...args], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.on("error", () => {});
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = once(child, "exit").then(() => undefined);
  const done = once(child, "close").then(([code, signal]) => {
    clearTimeout(killer);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr, ms: performance.now() - started };
  });
  return { child, stderr: () => stderr, exited, done };
}

export function run(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<RunResult> {
  return startRun(args, env, timeoutMs).done;
}

/** Polls `check` every 20 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Whether a process with this pid is alive (a zombie, dead but not yet reaped, counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  return !/^\d+ \(.*\) Z/.test(stat);
}
