// Competing load for fidelity checks under CPU contention (`npm run bench -- --load`): one busy
// loop per core, each in its own child process at normal priority, for the whole run.
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";

export interface CpuLoad {
  processes: number;
  stop(): void;
}

export function startCpuLoad(processes = os.cpus().length): CpuLoad {
  const children: ChildProcess[] = [];
  for (let i = 0; i < processes; i++) {
    const c = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
    c.on("error", () => {});
    children.push(c);
  }
  const stop = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  process.once("exit", stop);
  return { processes, stop };
}
