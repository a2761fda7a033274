// Competing load for fidelity checks under CPU contention (`npm run bench -- --load`): one busy
// loop per core, each in its own child process at normal priority, for the whole run.
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";

const BUSY_LOOP = "const parent = process.ppid; for (;;) { for (let i = 0; i < 1e7; i++); if (process.ppid !== parent) process.exit(0); }";

export interface CpuLoad {
  processes: number;
  stop(): void;
}

export function startCpuLoad(processes = os.cpus().length): CpuLoad {
  const children: ChildProcess[] = [];
  for (let i = 0; i < processes; i++) {
    // spins, and exits once its parent is gone (a bench stopped by a signal leaves no spinner)
    const c = spawn(process.execPath, ["-e", BUSY_LOOP], { stdio: "ignore" });
    c.on("error", () => {});
    children.push(c);
  }
  const stop = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  process.once("exit", stop);
  return { processes, stop };
}
