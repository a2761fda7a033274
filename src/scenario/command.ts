// The command a run wraps (`netimpair run scenario.yaml -- npm test`): started with the
// terminal's stdio, stopped with a signal and, after a grace period, SIGKILL. It runs under a
// small guard process (guard.ts) that watches a pipe from the runner, so a runner killed by
// SIGKILL takes its command with it; without a terminal on stdin the guard and the command get
// their own process group, and the command's children go too.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Socket } from "node:net";
import { constants } from "node:os";

/** The guard the command runs under (compiled next to this file). */
export const GUARD_PATH = fileURLToPath(new URL("./guard.js", import.meta.url));

export interface CommandExit {
  /** the exit code; 128 + the signal's number when a signal ended it (as shells report it) */
  code: number;
  signal: NodeJS.Signals | null;
  /** the command could not be started (e.g. not found); code is then 127 or 126 */
  error?: string;
}

export interface RunningCommand {
  readonly pid: number | undefined;
  readonly exited: Promise<CommandExit>;
  /** true until it exits */
  readonly running: boolean;
  /** sends `signal`, then SIGKILL after `graceMs`; resolves when it has exited */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<CommandExit>;
  /**
   * SIGKILL now (for a runner about to exit): the guard's process group, so the command's
   * children too, or without a group the command and the guard. Resolves when the guard has
   * exited and the command is gone (or after `waitMs`, default 2 s).
   */
  kill(waitMs?: number): Promise<void>;
}

/** A process's state letter and process group from /proc (Linux), or null when it is not there. */
function procStat(pid: string | number): { state: string; group: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", group: Number(fields[2]) };
  } catch {
    return null;
  }
}

const dead = (state: string): boolean => state === "Z" || state === "X";

/** Whether `pid` is gone: no such process, or dead and waiting to be reaped (a zombie). */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  const st = procStat(pid);
  return st === null || dead(st.state);
}

/** Whether every process of group `pgid` is gone (zombies count as gone; without /proc, signal 0 decides). */
function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return true;
  }
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return false;
  }
  return !pids.some((pid) => {
    const st = procStat(pid);
    return st !== null && st.group === pgid && !dead(st.state);
  });
}

export const STOP_GRACE_MS = 5000;
/** How long what a command left in its group has after SIGTERM before SIGKILL. */
export const REAP_GRACE_MS = 2000;

/** SIGTERM to the group, SIGKILL after REAP_GRACE_MS; resolves once it is gone (or a second after the SIGKILL). */
async function reapGroup(pgid: number): Promise<void> {
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(-pgid, s);
    } catch {
      // gone meanwhile
    }
  };
  const waitGone = async (ms: number): Promise<boolean> => {
    const until = performance.now() + ms;
    while (!groupGone(pgid)) {
      if (performance.now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  };
  signal("SIGTERM");
  if (await waitGone(REAP_GRACE_MS)) return;
  signal("SIGKILL");
  await waitGone(1000);
}

export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  if (signal !== null) return 128 + (constants.signals[signal] ?? 0);
  return 1;
}

/** Starts `argv` (no shell) with inherited stdio unless told otherwise, under the guard. */
export function startCommand(argv: readonly string[], opts: { stdio?: "inherit" | "ignore"; env?: NodeJS.ProcessEnv; group?: boolean } = {}): RunningCommand {
  if (argv.length === 0) throw new Error("no command given");
  // a background process group reading the terminal would be stopped (SIGTTIN): with a
  // terminal on stdin the command stays in the runner's group, as Ctrl-C expects
  const group = opts.group ?? !process.stdin.isTTY;
  const io = opts.stdio ?? "inherit";
  let running = true;
  let commandPid: number | undefined;
  let startError: string | null = null;
  let child: ChildProcess;
  const exited = new Promise<CommandExit>((resolve) => {
    child = spawn(process.execPath, [GUARD_PATH, ...(group ? ["--group"] : []), ...argv], { stdio: [io, io, io, "pipe"], env: opts.env ?? process.env, detached: group });
    const pipe = child.stdio[3] as Socket | null;
    let buffered = "";
    pipe?.on("error", () => {});
    pipe?.setEncoding("utf8").on("data", (d: string) => {
      buffered += d;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const msg = JSON.parse(line) as { pid?: number; error?: string; message?: string };
          if (typeof msg.pid === "number") commandPid = msg.pid;
          if (msg.error !== undefined) startError = msg.error === "ENOENT" ? "command not found" : msg.error === "EACCES" ? "permission denied" : (msg.message ?? msg.error);
        } catch {
          // not from the guard
        }
      }
    });
    child.once("error", (err: NodeJS.ErrnoException) => {
      if (!running) return;
      running = false;
      resolve({ code: 126, signal: null, error: `cannot start the guard for ${JSON.stringify(argv[0])}: ${err.message}` });
    });
    child.once("exit", (code, signal) => {
      const exit: CommandExit = { code: exitCodeOf(code, signal), signal };
      if (startError !== null) exit.error = `cannot start ${JSON.stringify(argv[0])}: ${startError}`;
      const finish = (): void => {
        running = false;
        resolve(exit);
      };
      // what the command left in its process group (a `sleep &` of a shell that trapped the
      // signal and exited) goes too: the run is over only when nothing of it is left
      if (group && child.pid !== undefined && !groupGone(child.pid)) void reapGroup(child.pid).then(finish);
      else finish();
    });
  });
  const killHard = (): void => {
    try {
      if (group && child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      else {
        if (commandPid !== undefined) process.kill(commandPid, "SIGKILL");
        child.kill("SIGKILL");
      }
    } catch {
      // gone meanwhile
    }
  };
  return {
    get pid() {
      return commandPid ?? child.pid;
    },
    exited,
    get running() {
      return running;
    },
    async kill(waitMs = 2000) {
      if (!running) return;
      killHard();
      const until = performance.now() + waitMs;
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
      const done = (): boolean => (group && child.pid !== undefined ? groupGone(child.pid) : commandPid === undefined || processGone(commandPid));
      while (!done() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    },
    async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = STOP_GRACE_MS): Promise<CommandExit> {
      if (running) {
        child.kill(signal); // the guard passes it on to the command
        const killer = setTimeout(() => {
          if (running) killHard();
        }, graceMs);
        const result = await exited;
        clearTimeout(killer);
        return result;
      }
      return exited;
    },
  };
}
