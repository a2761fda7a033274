// An exec probe: a shell command each sample (/bin/sh -c); exit 0 is a success, exit n fails as
// "exit n". It runs in its own process group, which is killed whole at the timeout, so a command
// stuck on a half-open link (psql, redis-cli) leaves nothing behind.
import { spawn } from "node:child_process";
import type { ExecCheck } from "../types.js";
import { failure, SUCCESS, type Outcome } from "./outcome.js";

export function probeExec(check: ExecCheck, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const child = spawn("/bin/sh", ["-c", check.command], { stdio: "ignore", detached: true });
    const killGroup = (): void => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const settle = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(o);
    };
    const onAbort = (): void => {
      killGroup();
      settle(failure("aborted"));
    };
    const timer = setTimeout(() => {
      killGroup();
      settle(failure("timeout"));
    }, timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
    child.once("error", (err: NodeJS.ErrnoException) => settle(failure(`cannot run (${err.code ?? err.message})`)));
    child.once("exit", (code, sig) => {
      // what it started in the background dies with it
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // nothing left
        }
      }
      settle(code === 0 ? SUCCESS : code !== null ? failure(`exit ${code}`) : failure(`signal ${sig ?? "?"}`));
    });
  });
}
