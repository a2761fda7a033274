// The command a run wraps (`netimpair run scenario.yaml -- npm test`): started with the
// terminal's stdio, stopped with a signal and, after a grace period, SIGKILL.
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";

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
}

export const STOP_GRACE_MS = 5000;

export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  if (signal !== null) return 128 + (constants.signals[signal] ?? 0);
  return 1;
}

/** Starts `argv` (no shell) with inherited stdio unless told otherwise. */
export function startCommand(argv: readonly string[], opts: { stdio?: "inherit" | "ignore"; env?: NodeJS.ProcessEnv } = {}): RunningCommand {
  if (argv.length === 0) throw new Error("no command given");
  let running = true;
  let child: ChildProcess;
  const exited = new Promise<CommandExit>((resolve) => {
    child = spawn(argv[0]!, argv.slice(1), { stdio: opts.stdio ?? "inherit", env: opts.env ?? process.env });
    child.once("error", (err: NodeJS.ErrnoException) => {
      // spawn failures (ENOENT, EACCES) come here and no exit follows
      if (!running) return;
      running = false;
      const code = err.code === "ENOENT" ? 127 : 126;
      const why = err.code === "ENOENT" ? "command not found" : err.code === "EACCES" ? "permission denied" : err.message;
      resolve({ code, signal: null, error: `cannot start ${JSON.stringify(argv[0])}: ${why}` });
    });
    child.once("exit", (code, signal) => {
      running = false;
      resolve({ code: exitCodeOf(code, signal), signal });
    });
  });
  return {
    get pid() {
      return child.pid;
    },
    exited,
    get running() {
      return running;
    },
    async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = STOP_GRACE_MS): Promise<CommandExit> {
      if (running) {
        child.kill(signal);
        const killer = setTimeout(() => {
          if (running) child.kill("SIGKILL");
        }, graceMs);
        const result = await exited;
        clearTimeout(killer);
        return result;
      }
      return exited;
    },
  };
}
